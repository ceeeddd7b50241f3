# tests/lib/mime.sh: taking delivered messages apart with GMime, through
# tests/tools/mimetool (built by `make check`; see its header comment),
# keeping exact bytes where a signature covers them.  Needs common.sh.
#
# mime_split MSG DIR      multipart/signed -> DIR/content (the first part's
#                         exact bytes), DIR/sig.b64 (the second part's body
#                         as sent), DIR/sig.der (decoded), DIR/sig.hdr,
#                         DIR/ctype, DIR/boundary, DIR/nparts
# mime_leaves ENTITY DIR  every leaf part decoded to DIR/N.body, with
#                         DIR/N.type, DIR/N.cte and DIR/structure
# mime_same_content A B   two mime_leaves directories carry the same thing
# mime_tamper MSG OUT     one byte of MSG's first part changed
# mime_header MSG NAME    a header's unfolded value (first instance)
# mime_body MSG OUT       the body of a message (after the first empty line)

MIMETOOL="$top/tests/tools/mimetool"
[ -x "$MIMETOOL" ] || bail "tests/tools/mimetool is built (make tools)"

mime_split() {
	rm -rf "$2"
	mkdir -p "$2"
	"$MIMETOOL" split "$1" "$2" 2>"$2.err" ||
	    { diag "mimetool split: $(head -1 "$2.err")"; return 1; }
	[ -s "$2/sig.der" ]
}

mime_tamper() {
	"$MIMETOOL" tamper "$1" "$2"
}

mime_leaves() {
	rm -rf "$2"
	mkdir -p "$2"
	"$MIMETOOL" leaves "$1" "$2" 2>"$2.err" ||
	    { diag "mimetool leaves: $(head -1 "$2.err")"; return 1; }
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
			# Header protection (RFC 9788): the Legacy Display
			# Element the gateway puts first is no change of content.
			if grep -qi 'hp-legacy-display' "$2/$_i.hdr" 2>/dev/null; then
				awk 'd { print; next } /^$/ { d = 1 }' "$2/$_i.norm" >"$2/$_i.nold"
				_mime_text_norm "$2/$_i.nold" "$2/$_i.norm"
			fi
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
# case-insensitive); nothing when there is none.
mime_header() {
	"$MIMETOOL" header "$1" "$2" 2>/dev/null
}

# mime_part_text MSG TYPE OUT: the decoded bodies of MSG's leaves of media
# type TYPE (text/plain, text/html), one after the other, CRs removed.
mime_part_text() {
	: >"$3"
	mime_leaves "$1" "$3.d" || return 1
	for _t in "$3.d"/*.type; do
		[ "$(cat "$_t")" = "$2" ] && tr -d '\r' <"${_t%.type}.body" >>"$3"
	done
	[ -s "$3" ]
}
