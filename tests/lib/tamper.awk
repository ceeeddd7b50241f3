# tamper.awk: changes exactly one byte inside the first part of a
# multipart message (the first byte of the middle non-empty line of that
# part), so that a signature over the first part must fail.
#
#   awk -f tamper.awk MESSAGE MESSAGE > TAMPERED      (the file twice)
#
# Line ends are kept as they are.  Exits 1 when nothing could be changed.

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

# Pass 1: find the boundary and the candidate lines.
NR == FNR {
	l = $0
	sub(/\r$/, "", l)
	if (!inbody) {
		if (l == "") {
			if (tolower(cur) ~ /^content-type:/)
				bnd = boundary_of(cur)
			inbody = 1
		} else if (l ~ /^[ \t]/)
			cur = cur l
		else {
			if (tolower(cur) ~ /^content-type:/)
				bnd = boundary_of(cur)
			cur = l
		}
		next
	}
	if (bnd != "" && substr(l, 1, length(bnd) + 2) == "--" bnd) {
		part++
		next
	}
	if (part == 1 && l != "")
		cand[++n] = FNR
	next
}

FNR == 1 {
	if (n == 0)
		exit 1
	target = cand[int((n + 1) / 2)]
}

FNR == target {
	c = substr($0, 1, 1)
	$0 = (c == "A" ? "B" : "A") substr($0, 2)
	done = 1
}

{ print }

END { if (!done) exit 1 }
