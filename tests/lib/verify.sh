# tests/lib/verify.sh: independent S/MIME verifiers, each trusting
# only the test root: OpenSSL (`openssl cms -verify`, parsing the S/MIME
# message itself), GnuPG (`gpgsm --verify` on the base64 signature and the
# first part's exact bytes), NSS, Thunderbird's library (`cmsutil -D`), and
# Bouncy Castle (bc_* below; check_signed uses it after bc_setup).
# Needs common.sh and mime.sh.
#
# verifiers_setup CA.pem   a private GNUPGHOME and NSS database under $T
# verify_openssl MSG [SIGNER_OUT]
# verify_gpgsm DIR         DIR from mime_split; status in DIR/gpgsm.status
# verify_nss DIR
# check_signed WHAT MSG ORIGINAL SIGNER_ADDRESS
#                          the whole set of assertions for one delivered
#                          message (see below)
# gpgsm_import_p12 HOME P12 PASSFILE ADDRESS [REEXPORT...]
#                          a legacy PKCS#12 into gpgsm, re-exported and
#                          tried again while gpgsm 2.2.40 misreads it

verifiers_setup() {
	VER_CA=$1
	GNUPGHOME="$T/gnupg"
	export GNUPGHOME
	mkdir -p "$GNUPGHOME" && chmod 0700 "$GNUPGHOME"
	echo "allow-loopback-pinentry" >"$GNUPGHOME/gpg-agent.conf"
	at_exit "GNUPGHOME='$GNUPGHOME' gpgconf --kill all"
	gpgsm --batch --disable-dirmngr --import "$VER_CA" \
	    >"$T/gpgsm-import.log" 2>&1 || { cat "$T/gpgsm-import.log"; return 1; }
	openssl x509 -in "$VER_CA" -noout -fingerprint -sha1 |
	    sed 's/^.*=//; s/$/ S relax/' >"$GNUPGHOME/trustlist.txt"
	gpgconf --reload gpg-agent 2>/dev/null

	NSSDB="$T/nss"
	mkdir -p "$NSSDB"
	certutil -N -d "sql:$NSSDB" --empty-password >"$T/nss-setup.log" 2>&1 &&
	certutil -A -d "sql:$NSSDB" -n "smimegate test root" -t "C,C,C" \
	    -i "$VER_CA" >>"$T/nss-setup.log" 2>&1 || { cat "$T/nss-setup.log"; return 1; }
}

# openssl parses the MIME itself, as a mail client would.
verify_openssl() {
	openssl cms -verify -in "$1" -CAfile "$VER_CA" -purpose smimesign \
	    -out /dev/null ${2:+-signer "$2"} >"$1.openssl.log" 2>&1
}

verify_gpgsm() {
	gpgsm --batch --disable-dirmngr --disable-crl-checks --status-fd 1 \
	    --assume-base64 --verify "$1/sig.b64" "$1/content" \
	    >"$1/gpgsm.status" 2>"$1/gpgsm.err"
	_rc=$?
	[ "$_rc" -eq 0 ] && grep -q '^\[GNUPG:\] GOODSIG' "$1/gpgsm.status"
}

# 0 only for a bad signature (BADSIG), not for any other failure.
gpgsm_says_bad() {
	grep -q '^\[GNUPG:\] BADSIG' "$1/gpgsm.status" &&
	    ! grep -q '^\[GNUPG:\] GOODSIG' "$1/gpgsm.status"
}

verify_nss() {
	cmsutil -D -i "$1/sig.der" -c "$1/content" -d "sql:$NSSDB" -u 4 \
	    >"$1/nss.out" 2>"$1/nss.err"
}

# check_signed WHAT MSG ORIGINAL SIGNER
#   MSG is multipart/signed with protocol application/pkcs7-signature and
#   micalg sha-256; openssl, gpgsm and NSS accept it against the test root;
#   the signer certificate names SIGNER; the first part, decoded, carries
#   what ORIGINAL carried; and each verifier rejects a copy with one byte
#   of the first part changed.
check_signed() {
	_w=$1 _msg=$2 _orig=$3 _signer=$4
	_sd="$_msg.split"
	if ! mime_split "$_msg" "$_sd"; then
		not_ok "$_w: delivered as multipart/signed"
		diag "Content-Type: $(cat "$_sd/ctype" 2>/dev/null)"
		keep "$_msg"
		return 1
	fi
	ok "$_w: delivered as multipart/signed"
	_ct=$(tr 'A-Z' 'a-z' <"$_sd/ctype")
	case $_ct in
	multipart/signed*) ;;
	*) _ct="" ;;
	esac
	if echo "$_ct" | grep -Eq 'protocol="?application/(x-)?pkcs7-signature"?' &&
	    echo "$_ct" | grep -Eq 'micalg="?sha-256"?' &&
	    grep -Eiq '^content-type:[[:space:]]*application/(x-)?pkcs7-signature' "$_sd/sig.hdr"; then
		ok "$_w: protocol application/pkcs7-signature, micalg sha-256"
	else
		not_ok "$_w: protocol application/pkcs7-signature, micalg sha-256"
		diag "Content-Type: $(cat "$_sd/ctype")"
		diag "signature part: $(tr '\n' ' ' <"$_sd/sig.hdr")"
	fi

	if verify_openssl "$_msg" "$_sd/signer.pem"; then
		ok "$_w: openssl cms -verify"
		_got=$(pki_email "$_sd/signer.pem")
		if [ "$_got" = "$_signer" ]; then
			ok "$_w: signed by $_signer"
		else
			not_ok "$_w: signed by $_signer"
			diag "signer certificate names <$_got>"
		fi
	else
		not_ok "$_w: openssl cms -verify"
		diag_file "$_msg.openssl.log" 10 "openssl"
		not_ok "$_w: signed by $_signer (no verified signer)"
	fi
	if verify_gpgsm "$_sd"; then
		ok "$_w: gpgsm --verify (GOODSIG)"
	else
		not_ok "$_w: gpgsm --verify (GOODSIG)"
		diag_file "$_sd/gpgsm.status" 10 "gpgsm status"
		diag_file "$_sd/gpgsm.err" 10 "gpgsm"
	fi
	if verify_nss "$_sd"; then
		ok "$_w: NSS cmsutil -D"
	else
		not_ok "$_w: NSS cmsutil -D"
		diag_file "$_sd/nss.err" 10 "cmsutil"
	fi
	# Bouncy Castle, when the script set it up (bc_setup).
	if [ -n "${BC_CP:-}" ]; then
		if bc_verify "$_msg" && grep -qx "signer: $_signer" "$_msg.bc.log"; then
			ok "$_w: Bouncy Castle verifies (signer $_signer)"
		else
			not_ok "$_w: Bouncy Castle verifies (signer $_signer)"
			diag_file "$_msg.bc.log" 10 "SmimeBc verify"
		fi
	fi

	if mime_leaves "$_orig" "$_msg.want" && mime_leaves "$_sd/content" "$_msg.got" &&
	    mime_same_content "$_msg.want" "$_msg.got"; then
		ok "$_w: signed content equals the original once decoded"
	else
		not_ok "$_w: signed content equals the original once decoded"
	fi

	_bad="$_msg.tampered"
	if ! mime_tamper "$_msg" "$_bad" || cmp -s "$_msg" "$_bad"; then
		not_ok "$_w: could not make a tampered copy"
		keep "$_msg"
		return 1
	fi
	if verify_openssl "$_bad"; then
		not_ok "$_w: openssl rejects a tampered copy"
	else
		ok "$_w: openssl rejects a tampered copy"
	fi
	if mime_split "$_bad" "$_bad.split"; then
		verify_gpgsm "$_bad.split"
		if gpgsm_says_bad "$_bad.split"; then
			ok "$_w: gpgsm rejects a tampered copy (BADSIG)"
		else
			not_ok "$_w: gpgsm rejects a tampered copy (BADSIG)"
			diag_file "$_bad.split/gpgsm.status" 10 "gpgsm status"
		fi
		if verify_nss "$_bad.split"; then
			not_ok "$_w: NSS rejects a tampered copy"
		else
			ok "$_w: NSS rejects a tampered copy"
		fi
		if [ -z "${BC_CP:-}" ]; then
			:
		elif bc_verify "$_bad"; then
			not_ok "$_w: Bouncy Castle rejects a tampered copy"
		elif grep -q '^signature: bad' "$_bad.bc.log"; then
			ok "$_w: Bouncy Castle rejects a tampered copy (bad signature)"
		else
			not_ok "$_w: Bouncy Castle rejects a tampered copy (bad signature)"
			diag_file "$_bad.bc.log" 10 "SmimeBc verify"
		fi
	else
		not_ok "$_w: tampered copy still splits"
	fi
	keep "$_msg"
}

# gpgsm_import_p12 GNUPGHOME P12 PASSFILE ADDRESS [REEXPORT...]
# Imports a legacy PKCS#12 into gpgsm and succeeds only when gpgsm then
# lists ADDRESS's secret key.  gpgsm 2.2.40 misreads about one good
# legacy PKCS#12 in 150 that OpenSSL wrote, depending on its random salt:
# "possibly bad passphrase" on the certificate bag, or "data error at
# shrouded_key_bag.decrypted-text" on the key bag (certificates imported,
# key not); the same file always fails, a new export (new salt) of the same
# key and password is read.  So REEXPORT (a command that writes P12 again)
# runs between tries, five at most.  Returns 0, 1 (never listed; the last
# log in P12.gpgsm.log), or 2 when gpgsm crashed (it does on EC keys).
gpgsm_import_p12() {
	_gh=$1 _p12=$2 _pw=$3 _addr=$4
	shift 4
	_try=1
	while :; do
		GNUPGHOME="$_gh" gpgsm --batch --disable-dirmngr --pinentry-mode loopback \
		    --passphrase-fd 0 --import "$_p12" <"$_pw" >"$_p12.gpgsm.log" 2>&1
		# -K exits 0 even when nothing matches: look for a "crs" record
		# (a certificate with its secret key).
		GNUPGHOME="$_gh" gpgsm --batch --disable-dirmngr --with-colons -K "$_addr" \
		    2>/dev/null | grep -q '^crs:' && return 0
		grep -q 'Segmentation fault' "$_p12.gpgsm.log" && return 2
		[ "$_try" -ge 5 ] || [ "$#" -eq 0 ] && return 1
		diag "gpgsm did not take the key of $_addr from $(basename "$_p12") (try $_try): exporting it again"
		"$@" >/dev/null 2>&1 || return 1
		_try=$((_try + 1))
	done
}

# ---- Bouncy Castle, a fourth independent peer ---------------
# Reads what gpgsm 2.2.40 and NSS 3.87 cannot: AES-GCM (AuthEnvelopedData)
# and ECDH.  tests/tools/SmimeBc.java is compiled with javac into
# tests/out/bc when it is newer than what is there (never committed).
#
# bc_setup                 compiles; 0, or 1 with the reason in $BC_SKIP
#                          (only when java, javac or the jars are absent)
# bc ARGS...               runs SmimeBc (verify|keypref|decrypt|sign|encrypt)
# bc_verify MSG [SIGNER]   SmimeBc verify against $VER_CA; output in MSG.bc.log
# bc_decrypt MSG KEY CERT|- PASSFILE|- OUT   output in OUT.bc.log
BC_JARS="/usr/share/java/bcprov.jar /usr/share/java/bcpkix.jar /usr/share/java/bcutil.jar
    /usr/share/java/bcmail.jar /usr/share/java/javax.mail.jar /usr/share/java/javax.activation.jar"

bc_setup() {
	BC_SKIP=""
	for _t in java javac; do
		command -v "$_t" >/dev/null 2>&1 ||
		    { BC_SKIP="$_t is not installed (default-jdk-headless)"; return 1; }
	done
	BC_CP=""
	for _j in $BC_JARS; do
		[ -f "$_j" ] || { BC_SKIP="$_j is not installed (libbcmail-java)"; return 1; }
		BC_CP="$BC_CP$_j:"
	done
	_src="$top/tests/tools/SmimeBc.java" _out="$top/tests/out/bc"
	BC_CP="$BC_CP$_out"
	[ -f "$_out/SmimeBc.class" ] && [ "$_out/SmimeBc.class" -nt "$_src" ] && return 0
	rm -rf "$_out.tmp.$$" && mkdir -p "$_out.tmp.$$" &&
	    javac -nowarn -d "$_out.tmp.$$" -cp "$BC_CP" "$_src" >"$T/javac.log" 2>&1 ||
	    { diag_file "$T/javac.log" 20 javac; rm -rf "$_out.tmp.$$"; return 2; }
	rm -rf "$_out" && mv "$_out.tmp.$$" "$_out"
}

bc() {
	java -cp "$BC_CP" SmimeBc "$@"
}

bc_verify() {
	bc verify "$1" "$VER_CA" ${2:+"$2"} >"$1.bc.log" 2>&1
}

bc_decrypt() {
	bc decrypt "$@" >"$5.bc.log" 2>&1
}
