# tests/lib/redis.sh: a private redis-server on loopback.  Needs common.sh.
#
# redis_start             redis-server on 127.0.0.1:$REDIS_PORT, no
#                         persistence, its files in $T/redis (again
#                         after redis_stop: the same port)
# redis_stop
# redis_restart           the same again on the same port (fault tests)
# redis_cli ARGS...       redis-cli against it
#
# $REDIS_ARGS (set before redis_start) adds server options, e.g.
# "--requirepass SECRET"; $REDIS_KEY is a value key (0600) made by
# redis_start, for the gateways' RedisKeyFile.

REDIS_DIR="$T/redis"
REDIS_KEY="$T/redis.key"

redis_start() {
	# A restart (after redis_stop) keeps the port the gateways know.
	[ -n "${REDIS_PORT:-}" ] || REDIS_PORT=$(free_port) || bail "a free port for redis-server"
	mkdir -p "$REDIS_DIR"
	[ -s "$REDIS_KEY" ] || { (umask 077; openssl rand -hex 32 >"$REDIS_KEY"); }
	# shellcheck disable=SC2086
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
	    --appendonly no --dir "$REDIS_DIR" --daemonize no \
	    --logfile "$REDIS_DIR/redis.log" ${REDIS_ARGS:-} >/dev/null 2>&1 &
	REDIS_PID=$!
	at_exit "stop_pid $REDIS_PID 50"
	wait_port "$REDIS_PORT" "$REDIS_PID" || { diag_file "$REDIS_DIR/redis.log"; return 1; }
}

redis_stop() {
	stop_pid "${REDIS_PID:-}" 50
	REDIS_PID=""
}

redis_cli() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# redis_restart: redis-server again on the same $REDIS_PORT (after
# redis_stop; empty, as there is no persistence), for fault tests.
redis_restart() {
	# shellcheck disable=SC2086
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
	    --appendonly no --dir "$REDIS_DIR" --daemonize no \
	    --logfile "$REDIS_DIR/redis.log" ${REDIS_ARGS:-} >/dev/null 2>&1 &
	REDIS_PID=$!
	at_exit "stop_pid $REDIS_PID 50"
	wait_port "$REDIS_PORT" "$REDIS_PID" || { diag_file "$REDIS_DIR/redis.log"; return 1; }
}
