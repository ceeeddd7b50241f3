/*
 * SmimeBc.java: Bouncy Castle as a fourth independent S/MIME peer for the
 * tests (the library Java mail gateways are built on).  Compiled at test
 * time into tests/out (tests/lib/verify.sh, bc_setup); nothing of it is
 * installed or committed compiled.
 *
 *   verify MSG CA.pem [SIGNER.pem]
 *       checks a multipart/signed or opaque signed-data message: every
 *       signature, and each signer's chain to CA.pem; prints "signer:",
 *       "keypref:" (the certificate SMIMEEncryptionKeyPreference names),
 *       "caps:" (SMIMECapabilities) and "certs:" lines.  Exit 0 when all
 *       hold, 1 when a signature or chain does not, 2 on other errors.
 *   keypref MSG OUT.pem
 *       writes the certificate the signer's SMIMEEncryptionKeyPreference
 *       names (as a partner's client harvests it); exit 1 when there is
 *       none or it is not in the message.
 *   decrypt MSG KEY CERT|- PASSFILE|- OUT
 *       decrypts enveloped-data (CBC) or authEnveloped-data (GCM), RSA
 *       (key transport) or EC (ECDH key agreement); KEY is a PKCS#12
 *       (PASSFILE its password) or a PEM key with CERT; prints
 *       "content-type:", "cipher:" and "recipient-infos:"; the MIME entity
 *       to OUT.
 *   sign KEY CERT IN OUT [--opaque] [--enc-cert ENC.pem]
 *       signs message IN (detached, or opaque), with SMIMECapabilities and,
 *       with --enc-cert, that certificate and SMIMEEncryptionKeyPreference;
 *       KEY and CERT PEM.
 *   encrypt IN OUT [--gcm] CERT.pem...
 *       encrypts message IN's MIME entity to each certificate: AES-256-CBC
 *       enveloped-data or AES-256-GCM authEnveloped-data; RSA key
 *       transport, ECDH (dhSinglePass-stdDH-sha256kdf, AES-256 wrap).
 */
import java.io.*;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.*;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.mail.Session;
import javax.mail.internet.*;

import org.bouncycastle.asn1.*;
import org.bouncycastle.asn1.cms.*;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.smime.*;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.*;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.mail.smime.*;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.InputAEADDecryptor;
import org.bouncycastle.util.Store;

public class SmimeBc {
	static final Session SESSION = Session.getInstance(new Properties());

	public static void main(String[] a) {
		Security.addProvider(new BouncyCastleProvider());
		try {
			int rc;
			switch (a.length > 0 ? a[0] : "") {
			case "verify": rc = verify(a); break;
			case "keypref": rc = keypref(a); break;
			case "decrypt": rc = decrypt(a); break;
			case "sign": rc = sign(a); break;
			case "encrypt": rc = encrypt(a); break;
			default:
				System.err.println("usage: SmimeBc verify|keypref|decrypt|sign|encrypt ...");
				rc = 2;
			}
			System.exit(rc);
		} catch (Exception e) {
			System.err.println("error: " + e);
			e.printStackTrace();
			System.exit(2);
		}
	}

	/* ---- files ---- */

	static X509Certificate cert(String path) throws Exception {
		try (InputStream in = new FileInputStream(path)) {
			return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
		}
	}

	static PrivateKey pemKey(String path) throws Exception {
		try (PEMParser p = new PEMParser(new FileReader(path))) {
			Object o = p.readObject();
			JcaPEMKeyConverter c = new JcaPEMKeyConverter().setProvider("BC");
			if (o instanceof PEMKeyPair)
				return c.getKeyPair((PEMKeyPair) o).getPrivate();
			return c.getPrivateKey((org.bouncycastle.asn1.pkcs.PrivateKeyInfo) o);
		}
	}

	/* A key and its certificate: a PKCS#12 (with its password file) or PEM. */
	static Object[] keyAndCert(String key, String cert, String passFile) throws Exception {
		if (key.endsWith(".p12")) {
			char[] pw = new String(Files.readAllBytes(Paths.get(passFile)),
			    StandardCharsets.UTF_8).trim().toCharArray();
			KeyStore ks = KeyStore.getInstance("PKCS12", "BC");
			try (InputStream in = new FileInputStream(key)) {
				ks.load(in, pw);
			}
			for (String alias : Collections.list(ks.aliases()))
				if (ks.isKeyEntry(alias))
					return new Object[] { ks.getKey(alias, pw), ks.getCertificate(alias) };
			throw new Exception(key + ": no key");
		}
		return new Object[] { pemKey(key), cert(cert) };
	}

	static byte[] crlf(byte[] in) {
		ByteArrayOutputStream o = new ByteArrayOutputStream();
		for (int i = 0; i < in.length; i++) {
			if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
				o.write('\r');
			o.write(in[i]);
		}
		return o.toByteArray();
	}

	/* The offset of the body of a CRLF message (after the empty line). */
	static int bodyStart(byte[] m) {
		for (int i = 0; i + 3 < m.length; i++)
			if (m[i] == '\r' && m[i + 1] == '\n' && m[i + 2] == '\r' && m[i + 3] == '\n')
				return i + 4;
		return m.length;
	}

	/* The header fields of a CRLF message, unfolded lines kept whole. */
	static List<String> headers(byte[] m) {
		String h = new String(m, 0, bodyStart(m), StandardCharsets.ISO_8859_1);
		List<String> out = new ArrayList<>();
		for (String line : h.split("\r\n")) {
			if (line.isEmpty())
				continue;
			if ((line.startsWith(" ") || line.startsWith("\t")) && !out.isEmpty())
				out.set(out.size() - 1, out.get(out.size() - 1) + "\r\n" + line);
			else
				out.add(line);
		}
		return out;
	}

	static boolean isContent(String field) {
		String l = field.toLowerCase(Locale.ROOT);
		return l.startsWith("content-") || l.startsWith("mime-version:");
	}

	static MimeMessage readMessage(String path) throws Exception {
		try (InputStream in = new FileInputStream(path)) {
			return new MimeMessage(SESSION, in);
		}
	}

	/* ---- verify, keypref ---- */

	static SMIMESigned signedOf(MimeMessage m) throws Exception {
		if (m.isMimeType("multipart/signed"))
			return new SMIMESigned((MimeMultipart) m.getContent());
		if (m.isMimeType("application/pkcs7-mime") || m.isMimeType("application/x-pkcs7-mime"))
			return new SMIMESigned(m);
		throw new Exception("not a signed message: " + m.getContentType());
	}

	static X509CertificateHolder named(Store<X509CertificateHolder> certs, SignerInformation si) {
		AttributeTable t = si.getSignedAttributes();
		Attribute a = t == null ? null : t.get(SMIMEAttributes.encrypKeyPref);
		if (a == null)
			return null;
		ASN1Encodable v = a.getAttrValues().getObjectAt(0);
		ASN1TaggedObject tag = ASN1TaggedObject.getInstance(v);
		if (tag.getTagNo() != 0)
			return null;
		IssuerAndSerialNumber ias = IssuerAndSerialNumber.getInstance(ASN1Sequence.getInstance(tag, false));
		for (X509CertificateHolder h : certs.getMatches(null))
			if (h.getIssuer().equals(ias.getName())
			    && h.getSerialNumber().equals(ias.getSerialNumber().getValue()))
				return h;
		return null;
	}

	static String capName(ASN1ObjectIdentifier oid) {
		if (oid.equals(NISTObjectIdentifiers.id_aes256_GCM)) return "aes256-gcm";
		if (oid.equals(NISTObjectIdentifiers.id_aes128_GCM)) return "aes128-gcm";
		if (oid.equals(NISTObjectIdentifiers.id_aes256_CBC)) return "aes256-cbc";
		if (oid.equals(NISTObjectIdentifiers.id_aes192_CBC)) return "aes192-cbc";
		if (oid.equals(NISTObjectIdentifiers.id_aes128_CBC)) return "aes128-cbc";
		return oid.getId();
	}

	static String caps(SignerInformation si) {
		AttributeTable t = si.getSignedAttributes();
		Attribute a = t == null ? null : t.get(SMIMEAttributes.smimeCapabilities);
		if (a == null)
			return "";
		StringBuilder b = new StringBuilder();
		SMIMECapabilities c = SMIMECapabilities.getInstance(a.getAttrValues().getObjectAt(0));
		for (Object o : c.getCapabilities(null))
			b.append(b.length() > 0 ? "," : "").append(capName(((SMIMECapability) o).getCapabilityID()));
		return b.toString();
	}

	static boolean chainOk(X509Certificate ee, Collection<X509Certificate> others, X509Certificate ca,
	    Date when) {
		try {
			X509CertSelector sel = new X509CertSelector();
			sel.setCertificate(ee);
			PKIXBuilderParameters p = new PKIXBuilderParameters(
			    Collections.singleton(new TrustAnchor(ca, null)), sel);
			p.setRevocationEnabled(false);
			p.setDate(when);
			List<X509Certificate> all = new ArrayList<>(others);
			all.add(ee);
			p.addCertStore(CertStore.getInstance("Collection",
			    new CollectionCertStoreParameters(all)));
			CertPathBuilder.getInstance("PKIX", "BC").build(p);
			return true;
		} catch (Exception e) {
			System.out.println("chain: " + e.getMessage());
			return false;
		}
	}

	static int verify(String[] a) throws Exception {
		SMIMESigned s = signedOf(readMessage(a[1]));
		X509Certificate ca = cert(a[2]);
		JcaX509CertificateConverter conv = new JcaX509CertificateConverter().setProvider("BC");
		@SuppressWarnings("unchecked")
		Store<X509CertificateHolder> certs = s.getCertificates();
		List<X509Certificate> all = new ArrayList<>();
		for (X509CertificateHolder h : certs.getMatches(null))
			all.add(conv.getCertificate(h));
		System.out.println("certs: " + all.size());
		int rc = 0, n = 0;
		for (SignerInformation si : s.getSignerInfos().getSigners()) {
			n++;
			@SuppressWarnings("unchecked")
			Collection<X509CertificateHolder> m = certs.getMatches(si.getSID());
			if (m.isEmpty()) {
				System.out.println("signature: no signer certificate");
				rc = 1;
				continue;
			}
			X509CertificateHolder h = m.iterator().next();
			X509Certificate c = conv.getCertificate(h);
			boolean good;
			try {
				good = si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(h));
			} catch (CMSException e) {
				System.out.println("signature: " + e.getMessage());
				good = false;
			}
			System.out.println("signature: " + (good ? "good" : "bad"));
			Collection<List<?>> alt = c.getSubjectAlternativeNames();
			for (List<?> g : alt == null ? Collections.<List<?>>emptyList() : alt)
				if (((Integer) g.get(0)) == 1)
					System.out.println("signer: " + g.get(1));
			if (!good || !chainOk(c, all, ca, new Date()))
				rc = 1;
			X509CertificateHolder p = named(certs, si);
			if (p != null)
				System.out.println("keypref: " + p.getSubject() + " serial "
				    + p.getSerialNumber().toString(16));
			System.out.println("caps: " + caps(si));
			if (n == 1 && a.length > 3)
				writePem(a[3], c);
		}
		if (n == 0) {
			System.out.println("signature: no signer");
			rc = 1;
		}
		return rc;
	}

	static void writePem(String path, X509Certificate c) throws Exception {
		String b64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
		    .encodeToString(c.getEncoded());
		Files.write(Paths.get(path), ("-----BEGIN CERTIFICATE-----\n" + b64
		    + "\n-----END CERTIFICATE-----\n").getBytes(StandardCharsets.US_ASCII));
	}

	static int keypref(String[] a) throws Exception {
		SMIMESigned s = signedOf(readMessage(a[1]));
		@SuppressWarnings("unchecked")
		Store<X509CertificateHolder> certs = s.getCertificates();
		for (SignerInformation si : s.getSignerInfos().getSigners()) {
			X509CertificateHolder p = named(certs, si);
			if (p != null) {
				writePem(a[2], new JcaX509CertificateConverter().setProvider("BC").getCertificate(p));
				return 0;
			}
		}
		System.out.println("keypref: none");
		return 1;
	}

	/* ---- decrypt ---- */

	/* The DER of a pkcs7-mime message: its whole body, base64. */
	static byte[] cmsOf(String path) throws Exception {
		byte[] m = crlf(Files.readAllBytes(Paths.get(path)));
		String body = new String(m, bodyStart(m), m.length - bodyStart(m), StandardCharsets.US_ASCII);
		return Base64.getMimeDecoder().decode(body.trim());
	}

	/* ECDH with AuthEnvelopedData: Bouncy Castle 1.72 has no recipient for
	 * it, so the content-encryption key is unwrapped here (extractSecretKey)
	 * and the GCM content decrypted with the JCE. */
	static class KariKey extends JceKeyAgreeRecipient {
		Key key;
		KariKey(PrivateKey k) { super(k); setProvider("BC"); }
		public RecipientOperator getRecipientOperator(AlgorithmIdentifier kea,
		    final AlgorithmIdentifier cea, SubjectPublicKeyInfo spki, ASN1OctetString ukm,
		    byte[] ek) throws CMSException {
			key = extractSecretKey(kea, cea, spki, ukm, ek);
			return new RecipientOperator(new InputAEADDecryptor() {
				public AlgorithmIdentifier getAlgorithmIdentifier() { return cea; }
				public InputStream getInputStream(InputStream in) { return in; }
				public OutputStream getAADStream() { return new ByteArrayOutputStream(); }
				public byte[] getMAC() { return new byte[0]; }
			});
		}
	}

	static byte[] gcmByHand(byte[] der, Key key) throws Exception {
		AuthEnvelopedData ad = AuthEnvelopedData.getInstance(ContentInfo.getInstance(der).getContent());
		EncryptedContentInfo eci = ad.getAuthEncryptedContentInfo();
		org.bouncycastle.asn1.cms.GCMParameters gp =
		    org.bouncycastle.asn1.cms.GCMParameters.getInstance(eci.getContentEncryptionAlgorithm().getParameters());
		byte[] ct = eci.getEncryptedContent().getOctets(), mac = ad.getMac().getOctets();
		Cipher c = Cipher.getInstance("AES/GCM/NoPadding", "BC");
		c.init(Cipher.DECRYPT_MODE, new javax.crypto.spec.SecretKeySpec(key.getEncoded(), "AES"),
		    new GCMParameterSpec(gp.getIcvLen() * 8, gp.getNonce()));
		if (ad.getAuthAttrs() != null)
			c.updateAAD(ad.getAuthAttrs().getEncoded(ASN1Encoding.DER));
		byte[] all = new byte[ct.length + mac.length];
		System.arraycopy(ct, 0, all, 0, ct.length);
		System.arraycopy(mac, 0, all, ct.length, mac.length);
		return c.doFinal(all);
	}

	static String kinds(RecipientInformationStore ris) {
		StringBuilder b = new StringBuilder();
		for (RecipientInformation ri : ris.getRecipients())
			b.append(b.length() > 0 ? "," : "").append(ri instanceof KeyTransRecipientInformation
			    ? "ktri" : ri instanceof KeyAgreeRecipientInformation ? "kari" : "other");
		return b.toString();
	}

	static int decrypt(String[] a) throws Exception {
		byte[] der = cmsOf(a[1]);
		Object[] kc = keyAndCert(a[2], a[3], a[4]);
		PrivateKey key = (PrivateKey) kc[0];
		X509Certificate c = (X509Certificate) kc[1];
		ASN1ObjectIdentifier type = ContentInfo.getInstance(der).getContentType();
		boolean auth = type.equals(CMSObjectIdentifiers.authEnvelopedData);
		boolean ec = c.getPublicKey() instanceof ECPublicKey;
		RecipientId rid = ec ? new JceKeyAgreeRecipientId(c) : new JceKeyTransRecipientId(c);
		RecipientInformationStore ris;
		byte[] plain;
		String alg;
		if (auth) {
			CMSAuthEnvelopedData d = new CMSAuthEnvelopedData(der);
			ris = d.getRecipientInfos();
			alg = AuthEnvelopedData.getInstance(ContentInfo.getInstance(der).getContent())
			    .getAuthEncryptedContentInfo().getContentEncryptionAlgorithm().getAlgorithm().getId();
			RecipientInformation ri = ris.get(rid);
			if (ri == null)
				return noRecipient(ris);
			if (ec) {
				KariKey k = new KariKey(key);
				ri.getContentStream(k);
				plain = gcmByHand(der, k.key);
			} else {
				plain = ri.getContent(new JceKeyTransAuthEnvelopedRecipient(key).setProvider("BC"));
			}
		} else if (type.equals(CMSObjectIdentifiers.envelopedData)) {
			CMSEnvelopedData d = new CMSEnvelopedData(der);
			ris = d.getRecipientInfos();
			alg = d.getEncryptionAlgOID();
			RecipientInformation ri = ris.get(rid);
			if (ri == null)
				return noRecipient(ris);
			plain = ri.getContent(ec ? new JceKeyAgreeEnvelopedRecipient(key).setProvider("BC")
			    : new JceKeyTransEnvelopedRecipient(key).setProvider("BC"));
		} else {
			System.out.println("content-type: " + type);
			return 1;
		}
		System.out.println("content-type: " + (auth ? "authEnveloped-data" : "enveloped-data"));
		System.out.println("cipher: " + capName(new ASN1ObjectIdentifier(alg)));
		System.out.println("recipient-infos: " + kinds(ris));
		Files.write(Paths.get(a[5]), plain);
		return 0;
	}

	static int noRecipient(RecipientInformationStore ris) {
		System.out.println("recipient-infos: " + kinds(ris));
		System.out.println("decrypt: no RecipientInfo for this key");
		return 1;
	}

	/* ---- sign ---- */

	/* A MimeMessage that keeps the Message-ID it was given. */
	static class Msg extends MimeMessage {
		Msg() { super(SESSION); }
		@Override protected void updateMessageID() {}
	}

	static int sign(String[] a) throws Exception {
		PrivateKey key = pemKey(a[1]);
		X509Certificate c = cert(a[2]);
		MimeMessage in = readMessage(a[3]);
		boolean opaque = false;
		X509Certificate enc = null;
		for (int i = 5; i < a.length; i++) {
			if (a[i].equals("--opaque"))
				opaque = true;
			else if (a[i].equals("--enc-cert"))
				enc = cert(a[++i]);
		}
		ASN1EncodableVector attrs = new ASN1EncodableVector();
		SMIMECapabilityVector caps = new SMIMECapabilityVector();
		caps.addCapability(NISTObjectIdentifiers.id_aes256_GCM);
		caps.addCapability(NISTObjectIdentifiers.id_aes256_CBC);
		caps.addCapability(NISTObjectIdentifiers.id_aes128_CBC);
		attrs.add(new SMIMECapabilitiesAttribute(caps));
		List<X509Certificate> certs = new ArrayList<>();
		certs.add(c);
		if (enc != null) {
			attrs.add(new SMIMEEncryptionKeyPreferenceAttribute(new IssuerAndSerialNumber(
			    new JcaX509CertificateHolder(enc).getIssuer(), enc.getSerialNumber())));
			certs.add(enc);
		}
		SMIMESignedGenerator gen = new SMIMESignedGenerator();
		String alg = c.getPublicKey() instanceof ECPublicKey ? "SHA256withECDSA" : "SHA256withRSA";
		gen.addSignerInfoGenerator(new JcaSimpleSignerInfoGeneratorBuilder().setProvider("BC")
		    .setSignedAttributeGenerator(new AttributeTable(attrs)).build(alg, key, c));
		gen.addCertificates(new JcaCertStore(certs));
		MimeBodyPart content = new MimeBodyPart();
		content.setContent(in.getContent(), in.getContentType());
		String cte = in.getHeader("Content-Transfer-Encoding", null);
		if (cte != null)
			content.setHeader("Content-Transfer-Encoding", cte);
		Msg out = new Msg();
		for (String h : new String[] { "From", "To", "Cc", "Subject", "Date", "Message-ID" }) {
			String v = in.getHeader(h, ", ");
			if (v != null)
				out.setHeader(h, v);
		}
		if (opaque) {
			MimeBodyPart p = gen.generateEncapsulated(content);
			out.setContent(p.getContent(), p.getContentType());
			out.setHeader("Content-Transfer-Encoding", "base64");
			out.setHeader("Content-Disposition", "attachment; filename=smime.p7m");
		} else {
			MimeMultipart mm = gen.generate(content);
			out.setContent(mm, mm.getContentType());
		}
		out.saveChanges();
		for (String h : new String[] { "Message-ID" }) {
			String v = in.getHeader(h, null);
			if (v != null)
				out.setHeader(h, v);
		}
		ByteArrayOutputStream bytes = new ByteArrayOutputStream();
		out.writeTo(bytes);
		byte[] b = bytes.toByteArray();
		try (OutputStream o = new FileOutputStream(a[4])) {
			o.write(b);
			if (b.length == 0 || b[b.length - 1] != '\n')
				o.write(new byte[] { '\r', '\n' });   /* SMTP needs a last line end */
		}
		return 0;
	}

	/* ---- encrypt ---- */

	static void addRecipient(CMSEnvelopedGenerator g, X509Certificate c) throws Exception {
		if (c.getPublicKey() instanceof ECPublicKey) {
			KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "BC");
			kpg.initialize(((ECPublicKey) c.getPublicKey()).getParams());
			KeyPair eph = kpg.generateKeyPair();
			g.addRecipientInfoGenerator(new JceKeyAgreeRecipientInfoGenerator(
			    CMSAlgorithm.ECDH_SHA256KDF, eph.getPrivate(), eph.getPublic(),
			    CMSAlgorithm.AES256_WRAP).addRecipient(c).setProvider("BC"));
		} else {
			g.addRecipientInfoGenerator(new JceKeyTransRecipientInfoGenerator(c).setProvider("BC"));
		}
	}

	static int encrypt(String[] a) throws Exception {
		byte[] m = crlf(Files.readAllBytes(Paths.get(a[1])));
		boolean gcm = false;
		List<X509Certificate> to = new ArrayList<>();
		for (int i = 3; i < a.length; i++) {
			if (a[i].equals("--gcm"))
				gcm = true;
			else
				to.add(cert(a[i]));
		}
		List<String> outer = new ArrayList<>();
		ByteArrayOutputStream entity = new ByteArrayOutputStream();
		for (String h : headers(m)) {
			if (isContent(h))
				entity.write((h + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
			else
				outer.add(h);
		}
		entity.write("\r\n".getBytes(StandardCharsets.US_ASCII));
		entity.write(m, bodyStart(m), m.length - bodyStart(m));
		CMSTypedData data = new CMSProcessableByteArray(entity.toByteArray());
		byte[] der;
		String st;
		if (gcm) {
			CMSAuthEnvelopedDataGenerator g = new CMSAuthEnvelopedDataGenerator();
			for (X509Certificate c : to)
				addRecipient(g, c);
			der = g.generate(data, (org.bouncycastle.operator.OutputAEADEncryptor)
			    new JceCMSContentEncryptorBuilder(CMSAlgorithm.AES256_GCM)
			    .setProvider("BC").build()).getEncoded();
			st = "authEnveloped-data";
		} else {
			CMSEnvelopedDataGenerator g = new CMSEnvelopedDataGenerator();
			for (X509Certificate c : to)
				addRecipient(g, c);
			der = g.generate(data, new JceCMSContentEncryptorBuilder(CMSAlgorithm.AES256_CBC)
			    .setProvider("BC").build()).getEncoded();
			st = "enveloped-data";
		}
		StringBuilder b = new StringBuilder();
		for (String h : outer)
			b.append(h).append("\r\n");
		b.append("MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=")
		    .append(st).append("; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n")
		    .append("Content-Disposition: attachment; filename=smime.p7m\r\n\r\n")
		    .append(Base64.getMimeEncoder(76, "\r\n".getBytes(StandardCharsets.US_ASCII))
		    .encodeToString(der)).append("\r\n");
		Files.write(Paths.get(a[2]), b.toString().getBytes(StandardCharsets.US_ASCII));
		return 0;
	}
}
