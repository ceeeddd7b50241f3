# tests/lib/httpd.sh: busybox httpd on loopback serving a directory (the
# test PKI's CRL).  Needs common.sh.
#
# httpd_start DIR         serves DIR on 127.0.0.1:$HTTPD_PORT (set
#                         HTTPD_PORT first to choose it, e.g. from free_port
#                         before certificates naming the URL are made);
#                         each request's URL is logged in $T/httpd.log
# httpd_stop

httpd_start() {
	HTTPD_PORT=${HTTPD_PORT:-$(free_port)} || bail "a free port for httpd"
	# -vv: each request's URL in the log ("url:/ca.crl"), for tests that
	# count fetches.
	busybox httpd -f -vv -p "127.0.0.1:$HTTPD_PORT" -h "$1" >"$T/httpd.log" 2>&1 &
	HTTPD_PID=$!
	at_exit "stop_pid $HTTPD_PID 20"
	wait_port "$HTTPD_PORT" "$HTTPD_PID" || { diag_file "$T/httpd.log"; return 1; }
}

httpd_stop() {
	stop_pid "${HTTPD_PID:-}" 20
	HTTPD_PID=""
}
