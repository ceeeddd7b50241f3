# qp-decode.awk: decodes quoted-printable (RFC 2045 6.7) to stdout.
# Trailing white space of an encoded line is transport padding and dropped;
# a final '=' is a soft line break; each hard line break becomes LF.
BEGIN {
	for (i = 0; i < 16; i++) {
		hex[substr("0123456789ABCDEF", i + 1, 1)] = i
		hex[substr("0123456789abcdef", i + 1, 1)] = i
	}
}
{
	l = $0
	sub(/\r$/, "", l)
	sub(/[ \t]+$/, "", l)
	soft = 0
	if (substr(l, length(l), 1) == "=") {
		soft = 1
		l = substr(l, 1, length(l) - 1)
	}
	o = ""
	while ((i = index(l, "=")) > 0) {
		h1 = substr(l, i + 1, 1)
		h2 = substr(l, i + 2, 1)
		if ((h1 in hex) && (h2 in hex)) {
			o = o substr(l, 1, i - 1) sprintf("%c", hex[h1] * 16 + hex[h2])
			l = substr(l, i + 3)
		} else {
			o = o substr(l, 1, i)
			l = substr(l, i + 1)
		}
	}
	printf "%s%s", o, l
	if (!soft)
		printf "\n"
}
