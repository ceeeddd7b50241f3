# tests/lib/mime.sh: taking delivered messages apart without a MIME
# library (awk, sed, coreutils base64), keeping exact bytes where a
# signature covers them.  Needs common.sh.
#
# mime_split MSG DIR      multipart/signed -> DIR/content (the first part's
#                         exact bytes, CRLF), DIR/sig.b64, DIR/sig.der,
#                         DIR/sig.hdr, DIR/ctype, DIR/boundary
# mime_leaves ENTITY DIR  every leaf part decoded to DIR/N.body
# mime_same_content A B   two mime_leaves directories carry the same thing
# mime_tamper MSG OUT     one byte of MSG's first part changed
# mime_body MSG OUT       the body of a message (after the first empty line)

_mlib="$top/tests/lib"

mime_split() {
	rm -rf "$2"
	mkdir -p "$2"
	awk -v out="$2" -f "$_mlib/mime-split.awk" "$1" || return 1
	base64 -d <"$2/sig.b64" >"$2/sig.der" 2>/dev/null || return 1
	[ -s "$2/sig.der" ]
}

mime_tamper() {
	awk -f "$_mlib/tamper.awk" "$1" "$1" >"$2"
}

mime_leaves() {
	rm -rf "$2"
	mkdir -p "$2"
	awk -v out="$2" -f "$_mlib/mime-leaves.awk" "$1" || return 1
	_n=$(cat "$2/leaves")
	_i=1
	while [ "$_i" -le "$_n" ]; do
		case $(cat "$2/$_i.cte") in
		base64)
			base64 -d <"$2/$_i.raw" >"$2/$_i.body" 2>/dev/null ||
			    { diag "leaf $_i: bad base64"; return 1; } ;;
		quoted-printable)
			awk -f "$_mlib/qp-decode.awk" "$2/$_i.raw" >"$2/$_i.body" ;;
		*)
			cp "$2/$_i.raw" "$2/$_i.body" ;;
		esac
		_i=$((_i + 1))
	done
}

# Text compares without CRs and trailing empty lines (the last line break
# of a part belongs to the boundary that follows it).
_mime_text_norm() {
	awk '{ sub(/\r$/, ""); l[NR] = $0 }
	    END {
		n = NR
		while (n > 0 && l[n] == "") n--
		for (i = 1; i <= n; i++) printf "%s%s", l[i], (i < n ? "\n" : "")
	    }' "$1" >"$2"
}

mime_same_content() {
	if ! cmp -s "$1/structure" "$2/structure"; then
		diag "MIME structure differs:"
		sed 's/^/#   want: /' "$1/structure"
		sed 's/^/#   got:  /' "$2/structure"
		return 1
	fi
	_n=$(cat "$1/leaves")
	_i=1
	while [ "$_i" -le "$_n" ]; do
		case $(cat "$1/$_i.type") in
		text/*)
			_mime_text_norm "$1/$_i.body" "$1/$_i.norm"
			_mime_text_norm "$2/$_i.body" "$2/$_i.norm"
			_a="$1/$_i.norm" _b="$2/$_i.norm" ;;
		*)
			_a="$1/$_i.body" _b="$2/$_i.body" ;;
		esac
		if ! cmp -s "$_a" "$_b"; then
			diag "leaf $_i ($(cat "$1/$_i.type"), sent $(cat "$1/$_i.cte"), got $(cat "$2/$_i.cte")) differs: $(cmp "$_a" "$_b" 2>&1 | head -1)"
			return 1
		fi
		_i=$((_i + 1))
	done
}

mime_body() {
	awk 'body { print; next } /^\r?$/ { body = 1 }' "$1" >"$2"
}

# A header's unfolded value from a message (first instance, name
# case-insensitive).
mime_header() {
	awk -v want="$(echo "$2" | tr 'A-Z' 'a-z')" '
	    { sub(/\r$/, "") }
	    /^$/ { if (found) print v; exit }
	    /^[ \t]/ { if (cur) v = v $0; next }
	    {
		if (found) { print v; found = 0; exit }
		i = index($0, ":")
		cur = (tolower(substr($0, 1, i - 1)) == want)
		if (cur) { found = 1; v = substr($0, i + 1); sub(/^[ \t]+/, "", v) }
	    }
	    END { }' "$1"
}
