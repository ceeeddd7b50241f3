# mime-split.awk: splits a multipart/signed message (RFC 1847) into what
# detached-signature verifiers take.  mawk/POSIX awk; no MIME library.
#
#   awk -v out=DIR -f mime-split.awk MESSAGE
#
# Writes DIR/ctype (the top-level Content-Type, unfolded), DIR/boundary,
# DIR/content (the first part's exact bytes: the lines after the first
# delimiter up to, not including, the CRLF before the next delimiter, with
# CRLF line ends), DIR/sig.hdr (the second part's headers, unfolded, one a
# line), DIR/sig.b64 (the second part's body) and DIR/nparts.  Exits 1 when
# the message is not multipart or has fewer than two parts.

function hdr_flush() {
	if (cur != "") {
		if (tolower(substr(cur, 1, 13)) == "content-type:")
			ctype = substr(cur, 14)
		cur = ""
	}
}

# The boundary parameter of a Content-Type value, case kept.
function boundary_of(v,    l, i, rest, b) {
	l = tolower(v)
	i = index(l, "boundary=")
	if (i == 0)
		return ""
	rest = substr(v, i + 9)
	if (substr(rest, 1, 1) == "\"") {
		rest = substr(rest, 2)
		i = index(rest, "\"")
		return i ? substr(rest, 1, i - 1) : ""
	}
	b = rest
	sub(/[;[:space:]].*$/, "", b)
	return b
}

# 1 for "--b", 2 for "--b--" (either with transport padding), else 0.
function delim(line,    rest) {
	if (bnd == "" || substr(line, 1, length(bnd) + 2) != "--" bnd)
		return 0
	rest = substr(line, length(bnd) + 3)
	if (rest ~ /^[ \t]*$/)
		return 1
	if (rest ~ /^--[ \t]*$/)
		return 2
	return 0
}

BEGIN { state = "hdr"; part = 0; cur = ""; ctype = ""; bnd = "" }

{ sub(/\r$/, "") }

state == "hdr" {
	if ($0 == "") {
		hdr_flush()
		v = ctype
		sub(/^[ \t]+/, "", v)
		print v > (out "/ctype")
		bnd = boundary_of(ctype)
		if (tolower(v) !~ /^multipart\// || bnd == "")
			exit 1
		print bnd > (out "/boundary")
		state = "body"
		next
	}
	if ($0 ~ /^[ \t]/)
		cur = cur $0
	else {
		hdr_flush()
		cur = $0
	}
	next
}

{
	d = delim($0)
	if (d) {
		part++
		if (d == 2) {
			state = "epilogue"
			exit 0
		}
		if (part == 1)
			printf "" > (out "/content")
		if (part == 2) {
			state = "sighdr"
			printf "" > (out "/sig.hdr")
			printf "" > (out "/sig.b64")
		}
		first = 1
		next
	}
	if (part == 1) {
		if (!first)
			printf "\r\n" > (out "/content")
		printf "%s", $0 > (out "/content")
		first = 0
	} else if (part == 2 && state == "sighdr") {
		if ($0 == "")
			state = "sigbody"
		else
			print > (out "/sig.hdr")
	} else if (part == 2) {
		print > (out "/sig.b64")
	}
}

END {
	if (state == "hdr")
		exit 1
	print part > (out "/nparts")
	if (part < 2)
		exit 1
}
