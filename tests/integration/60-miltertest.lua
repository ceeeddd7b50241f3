-- 60-miltertest.lua: drives the real smimegate through the milter protocol
-- with miltertest, standing in for the MTA.  Run by 60-miltertest.sh:
--
--   miltertest -D socket=inet:PORT@127.0.0.1 [-D set=signed|untouched]
--       [-D only=MTnnnn] -s 60-miltertest.lua
--
-- Prints TAP lines ("ok - ..." / "not ok - ...") and never stops at the
-- first failure.  Queue IDs MT0001... let the wrapper find the log lines.

local sock = socket
if sock == nil then
	print("not ok - miltertest: -D socket=... is given")
	os.exit(1)
end

local failures = 0
local function tap(cond, what)
	if cond then
		print("ok - " .. what)
	else
		print("not ok - " .. what)
		failures = failures + 1
	end
end

local body_lines = {
	"Hello Bob,\r\n",
	"\r\n",
	"this message went through miltertest.\r\n",
	"-- \r\n",
	"Sender\r\n",
}

-- run(t): one connection, one message.  t.name, t.qid, t.ip, t.from,
-- t.auth (nil: none), t.chunks (body split points, for chunked delivery).
-- Returns the connection after end-of-message, or nil.
local function run(t)
	local conn = mt.connect(sock, 40, 0.25)
	if conn == nil then
		tap(false, t.name .. ": connect to " .. sock)
		return nil
	end
	-- call(f, ...): f's result; "skip" when the filter negotiated that step
	-- away (SMFIP_NOHELO and the like: miltertest then refuses to send it).
	local function call(f, ...)
		local good, res = pcall(f, ...)
		if good then
			return res
		end
		if string.find(tostring(res), "negotiated SMFIP_NO", 1, true) then
			return "skip"
		end
		return "error: " .. tostring(res)
	end
	local function step(what, f, ...)
		local err = call(f, ...)
		if err == "skip" then
			return true
		end
		if err ~= nil then
			tap(false, t.name .. ": " .. what .. " (" .. tostring(err) .. ")")
			return false
		end
		local r = mt.getreply(conn)
		if r ~= SMFIR_CONTINUE then
			tap(false, t.name .. ": " .. what .. " answered " .. tostring(r) .. ", not continue")
			return false
		end
		return true
	end
	if not step("connect info", mt.conninfo, conn, t.host or "client.test", t.ip) then return nil end
	if not step("helo", mt.helo, conn, "client.test") then return nil end
	if t.auth ~= nil then
		mt.macro(conn, SMFIC_MAIL, "i", t.qid, "{auth_type}", "PLAIN",
		    "{auth_authen}", t.auth)
	else
		mt.macro(conn, SMFIC_MAIL, "i", t.qid)
	end
	if not step("mail from", mt.mailfrom, conn, "<" .. t.from .. ">") then return nil end
	mt.macro(conn, SMFIC_RCPT, "i", t.qid)
	if not step("rcpt to", mt.rcptto, conn, "<bob@elsewhere.test>") then return nil end
	local headers = {
		{ "From", t.from },
		{ "To", "Bob <bob@elsewhere.test>" },
		{ "Subject", "miltertest " .. t.name },
		{ "Date", "Mon, 23 Nov 2026 10:00:00 +0000" },
		{ "Message-ID", "<" .. t.qid .. "@miltertest.test>" },
		{ "MIME-Version", "1.0" },
		{ "Content-Type", "text/plain; charset=us-ascii" },
	}
	for _, h in ipairs(headers) do
		if not step("header " .. h[1], mt.header, conn, h[1], h[2]) then return nil end
	end
	if not step("end of headers", mt.eoh, conn) then return nil end
	local body = table.concat(body_lines)
	local pieces = {}
	if t.chunks then
		-- Split inside lines and between CR and LF.
		local last = 1
		for _, at in ipairs(t.chunks) do
			table.insert(pieces, string.sub(body, last, at))
			last = at + 1
		end
		table.insert(pieces, string.sub(body, last))
	else
		pieces = { body }
	end
	for i, p in ipairs(pieces) do
		if not step("body chunk " .. i, mt.bodystring, conn, p) then return nil end
	end
	local err = call(mt.eom, conn)
	if err ~= nil then
		tap(false, t.name .. ": end of message (" .. tostring(err) .. ")")
		return nil
	end
	local r = mt.getreply(conn)
	tap(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE,
	    t.name .. ": end of message accepted (reply " .. tostring(r) .. ")")
	return conn
end

local function ctype_changed(conn)
	return mt.eom_check(conn, MT_HDRCHANGE, "Content-Type")
	    or mt.eom_check(conn, MT_HDRADD, "Content-Type")
	    or mt.eom_check(conn, MT_HDRINSERT, "Content-Type")
end

local function untouched(conn)
	return not mt.eom_check(conn, MT_BODYCHANGE)
	    and not mt.eom_check(conn, MT_HDRCHANGE)
	    and not mt.eom_check(conn, MT_HDRADD)
	    and not mt.eom_check(conn, MT_HDRINSERT)
	    and not mt.eom_check(conn, MT_HDRDELETE)
end

local function run_safe(t)
	local good, conn = pcall(run, t)
	if not good then
		tap(false, t.name .. ": " .. tostring(conn))
		return nil
	end
	return conn
end

local function signed_case(t)
	local conn = run_safe(t)
	if conn == nil then
		tap(false, t.name .. ": body replaced (no transaction)")
		return
	end
	tap(mt.eom_check(conn, MT_BODYCHANGE), t.name .. ": body replaced (MT_BODYCHANGE)")
	tap(ctype_changed(conn), t.name .. ": Content-Type changed")
	local v = mt.getheader(conn, "Content-Type", 0) or mt.getheader(conn, "Content-Type", 1)
	if v ~= nil then
		tap(string.find(string.lower(v), "multipart/signed", 1, true) ~= nil,
		    t.name .. ": new Content-Type is multipart/signed (" .. v .. ")")
	end
	mt.disconnect(conn)
end

local function untouched_case(t)
	local conn = run_safe(t)
	if conn == nil then
		tap(false, t.name .. ": message untouched (no transaction)")
		return
	end
	tap(untouched(conn), t.name .. ": message untouched (no header or body change)")
	mt.disconnect(conn)
end

local cases = {
	{ kind = "signed", name = "key holder, internal client", qid = "MT0001",
	    ip = "127.0.0.1", from = "alice@example.com" },
	{ kind = "untouched", name = "outside sender, outside client", qid = "MT0002",
	    ip = "192.0.2.7", from = "mallory@outside.test" },
	{ kind = "signed", name = "login alice@example.com from outside", qid = "MT0003",
	    ip = "192.0.2.7", from = "alice@example.com", auth = "alice@example.com" },
	{ kind = "untouched", name = "login bob@example.com sending as alice", qid = "MT0004",
	    ip = "192.0.2.7", from = "alice@example.com", auth = "bob@example.com" },
	{ kind = "untouched", name = "local sender without a key", qid = "MT0005",
	    ip = "127.0.0.1", from = "dave@example.com" },
	{ kind = "signed", name = "body in chunks split mid-line and mid-CRLF", qid = "MT0006",
	    ip = "127.0.0.1", from = "alice@example.com", chunks = { 7, 11, 30, 52 } },
	{ kind = "untouched", name = "local sender from an outside client, no login", qid = "MT0007",
	    ip = "192.0.2.7", from = "alice@example.com" },
}

-- -D only=MTnnnn runs that case; -D set=signed|untouched runs those.
for _, c in ipairs(cases) do
	if (only ~= nil and c.qid == only) or (only == nil and (set == nil or set == c.kind)) then
		if c.kind == "signed" then
			signed_case(c)
		else
			untouched_case(c)
		end
	end
end

if failures > 0 then
	os.exit(1)
end
