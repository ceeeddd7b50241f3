# tests/bench/profile.awk: where a process's CPU went, from the text of
# `perf script -F comm,tid,ip,sym,dso` over a `perf record --call-graph`
# of that process (tests/bench/profile.sh runs it for BENCH_PROFILE=1).
#
#   perf script -i FILE -F comm,tid,ip,sym,dso |
#       awk -v own=smimegate [-v noinline=FILE] [-v ninc=15] [-v nself=10] \
#           [-v nown=10] -f profile.awk
#
# perf lists the functions inlined at an address as frames marked
# (inlined) without their object; FILE, the same recording through
# `perf script --no-inline` with the same fields, gives it (without FILE,
# the object of a real frame at the same address, else "?").
#
# Every sample counts once; shares are of all samples in the input (record
# one process with -p and they are that process's).  Prints:
#   - inclusive shares: the samples with the function anywhere on their
#     stack (a recursive function counts once per sample), top ninc;
#   - self shares: the samples whose innermost frame is the function,
#     top nself;
#   - our code: each sample charged to its innermost frame in the object
#     named `own` (the program's binary, by file name): that function's own
#     time and the time of the libraries it called, top nown, and the
#     samples with no such frame;
#   - our code, inclusive: the own object's functions by inclusive share;
#   - a last line "top ours: SHARE% FUNCTION" (the first line of "our
#     code"), or "top ours: none" when no sample has a frame of `own`.
# A function is named "NAME  OBJECT" (OBJECT the file name of its binary,
# "kernel" for the kernel).  Ties are broken by name, so that
# the output is the same for the same input.  POSIX awk (mawk, gawk).

BEGIN {
	if (ninc == "") ninc = 15
	if (nself == "") nself = 10
	if (nown == "") nown = 10
	nframes = 0
	total = 0
}

# obj PATH: the file name of a dso, "kernel" for the kernel's.
function obj(p) {
	if (p ~ /^\[kernel/) return "kernel"
	sub(/.*\//, "", p)
	return p
}

# One sample's frames are in fsym[1..nframes], fobj[1..nframes], the
# innermost first.
function flush(   i, j, k, seen, ownleaf) {
	if (nframes == 0) return
	total++
	# (inlined) frames: their object from the same sample without inline
	# expansion (-v noinline), where each address is one real frame.
	if (noinline != "") real_objects()
	# Else, or where that has no frame at the address: the object of the
	# real frame at the same address listed below it, if any; else "?".
	for (i = 1; i <= nframes; i++) {
		if (fobj[i] != "inlined") continue
		for (j = i + 1; j <= nframes && fobj[j] == "inlined" && fip[j] == fip[i]; j++)
			;
		fobj[i] = j <= nframes && fip[j] == fip[i] ? fobj[j] : "?"
	}
	self[fsym[1] "  " fobj[1]]++
	ownleaf = ""
	for (i = 1; i <= nframes; i++) {
		k = fsym[i] "  " fobj[i]
		if (!(k in seen)) {
			seen[k] = 1
			inc[k]++
			if (fobj[i] == own) owninc[k]++
		}
		if (ownleaf == "" && fobj[i] == own) ownleaf = fsym[i]
	}
	if (ownleaf == "") ownleaf = "(no frame of " own ")"
	ours[ownleaf]++
	nframes = 0
}

# real_objects: reads the next sample of the file noinline (the same
# recording, `perf script --no-inline`, the samples in the same order) and
# gives each (inlined) frame the object of its address there, walking
# both stacks outwards together.
function real_objects(   line, n, rip, robj, k, i, ip, r) {
	n = 0
	# Frames up to the blank line after them (a sample without frames,
	# which the main input skips too, is skipped).
	while ((r = (getline line < noinline)) > 0) {
		if (line ~ /^[ \t]*$/ || line ~ /^[^ \t]/) {   # blank, header
			if (n > 0) break
			continue
		}
		sub(/^[ \t]+/, "", line)
		ip = line
		sub(/[ \t].*/, "", ip)
		n++
		rip[n] = ip
		robj[n] = "?"
		if (match(line, / \([^()]*\)$/))
			robj[n] = obj(substr(line, RSTART + 2, RLENGTH - 3))
	}
	if (r < 0) {
		printf "profile.awk: cannot read %s\n", noinline > "/dev/stderr"
		noinline = ""
		return
	}
	k = 1
	for (i = 1; i <= nframes && k <= n; i++) {
		while (k <= n && rip[k] != fip[i]) k++
		if (k > n) break
		if (fobj[i] == "inlined") fobj[i] = robj[k]
		else k++                # a real frame ends its address's group
	}
}

# A header line ("comm tid"), or the blank line after a sample: ends the
# sample before it.
/^[ \t]*$/ { flush(); next }
/^[^ \t]/ { flush(); next }

# A frame: "<tab>IP SYMBOL (DSO)".
{
	line = $0
	sub(/^[ \t]+/, "", line)
	ip = line
	sub(/[ \t].*/, "", ip)
	sub(/^[^ \t]+[ \t]+/, "", line)     # the address
	dso = "?"
	if (match(line, / \([^()]*\)$/)) {
		dso = substr(line, RSTART + 2, RLENGTH - 3)
		line = substr(line, 1, RSTART - 1)
	}
	if (line == "") line = "[unknown]"
	nframes++
	fsym[nframes] = line
	fip[nframes] = ip
	fobj[nframes] = dso == "inlined" ? "inlined" : obj(dso)
}

# top ARRAY N TITLE: the N largest counts of ARRAY, as shares of total.
function top(a, n, title,   k, best, got, i, printed) {
	print title
	printed = 0
	for (i = 1; i <= n; i++) {
		best = ""
		for (k in a) {
			if (k in got) continue
			if (best == "" || a[k] > a[best] || (a[k] == a[best] && k < best))
				best = k
		}
		if (best == "") break
		got[best] = 1
		printf "  %6.2f%%  %s\n", 100 * a[best] / total, best
		if (printed++ == 0) first = best
	}
	if (printed == 0) print "  (none)"
}

END {
	flush()
	print "samples: " total
	if (total == 0) {
		print "top ours: none"
		exit 0
	}
	top(inc, ninc, "inclusive share (the function and all it calls), top " ninc ":")
	top(self, nself, "self share (the function alone), top " nself ":")
	# "our code": the innermost frame of ours, first without the samples
	# that have none (so that the top line is a function of ours).
	for (k in ours) if (k !~ /^\(no frame of /) oursonly[k] = ours[k]
	first = ""
	top(oursonly, nown, "our code (" own "): each sample charged to its innermost frame in " own ", top " nown ":")
	topours = first
	for (k in ours) if (k ~ /^\(no frame of /)
		printf "  %6.2f%%  %s\n", 100 * ours[k] / total, k
	top(owninc, nown, "our code (" own "), inclusive share, top " nown ":")
	if (topours == "") print "top ours: none"
	else printf "top ours: %.2f%% %s\n", 100 * oursonly[topours] / total, topours
}
