# mime-leaves.awk: walks a MIME entity (a whole message, or the first part
# of a multipart/signed) and writes each leaf part's raw body to a file, so
# that the shell can decode it and compare what two messages carry.
#
#   awk -v out=DIR -f mime-leaves.awk ENTITY
#
# Writes DIR/structure (one line per entity: depth, media type, and for
# text the charset, us-ascii when none is named), DIR/leaves (how many),
# and for leaf N (1, 2, ...) DIR/N.hdr (unfolded headers), DIR/N.type,
# DIR/N.cte and DIR/N.raw (the body lines joined with LF; the
# line break before a delimiter belongs to the delimiter).  Nested
# multiparts are followed through a stack of boundaries; message/rfc822 is
# a leaf.

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

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

function hdr_flush(    l) {
	if (cur == "")
		return
	nh++
	hdrs[nh] = cur
	l = tolower(cur)
	if (substr(l, 1, 13) == "content-type:")
		ctype = substr(cur, 14)
	else if (substr(l, 1, 26) == "content-transfer-encoding:")
		cte = trim(tolower(substr(cur, 27)))
	cur = ""
}

function start_entity() {
	cur = ""; ctype = ""; cte = ""; nh = 0
	state = "hdr"
}

function charset_of(v,    l, i, c) {
	l = tolower(v)
	i = index(l, "charset=")
	if (i == 0)
		return "us-ascii"
	c = substr(l, i + 8)
	sub(/^"/, "", c)
	sub(/[";[:space:]].*$/, "", c)
	return c
}

function end_headers(    t, b, i, f) {
	hdr_flush()
	t = tolower(trim(ctype))
	sub(/[ \t]*;.*$/, "", t)
	if (t == "")
		t = "text/plain"
	if (cte == "")
		cte = "7bit"
	print sp, t, (t ~ /^text\// ? charset_of(ctype) : "-") > (out "/structure")
	b = boundary_of(ctype)
	if (t ~ /^multipart\// && b != "") {
		bnd[++sp] = b
		state = "pre"
		return
	}
	n++
	f = out "/" n
	for (i = 1; i <= nh; i++)
		print hdrs[i] > (f ".hdr")
	printf "" > (f ".hdr")
	print t > (f ".type")
	print cte > (f ".cte")
	printf "" > (f ".raw")
	leaf = f ".raw"
	first = 1
	state = "leaf"
}

# The stack level whose boundary this line delimits (close: sets isclose).
function delim_level(line,    k, rest) {
	for (k = sp; k >= 1; k--) {
		if (substr(line, 1, length(bnd[k]) + 2) != "--" bnd[k])
			continue
		rest = substr(line, length(bnd[k]) + 3)
		if (rest ~ /^[ \t]*$/) {
			isclose = 0
			return k
		}
		if (rest ~ /^--[ \t]*$/) {
			isclose = 1
			return k
		}
	}
	return 0
}

BEGIN { sp = 0; n = 0; start_entity() }

{ sub(/\r$/, "") }

state == "hdr" {
	if ($0 == "")
		end_headers()
	else if ($0 ~ /^[ \t]/)
		cur = cur $0
	else {
		hdr_flush()
		cur = $0
	}
	next
}

{
	k = delim_level($0)
	if (k) {
		if (state == "leaf")
			close(leaf)
		if (isclose) {
			sp = k - 1
			state = "epilogue"
		} else {
			sp = k
			start_entity()
		}
		next
	}
	if (state == "leaf") {
		if (!first)
			printf "\n" > leaf
		printf "%s", $0 > leaf
		first = 0
	}
}

END {
	if (state == "hdr")
		end_headers()
	print n > (out "/leaves")
}
