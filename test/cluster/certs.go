package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the files of the cluster's certificates and keys.
type pki struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	AdminCert, AdminKey     string
	SAPub, SAKey            string

	caPEM, adminCertPEM, adminKeyPEM []byte

	dir string
	ca  *keyPair
}

// keyPair is a certificate with its key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// writePKI creates a CA, an apiserver serving certificate (for 127.0.0.1 and ips), an admin
// client certificate (system:masters) and a service-account key pair in dir.
func writePKI(dir string, ips ...net.IP) (*pki, error) {
	p := &pki{dir: dir,
		CACert: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"),
		ServingCert: filepath.Join(dir, "apiserver.crt"), ServingKey: filepath.Join(dir, "apiserver.key"),
		AdminCert: filepath.Join(dir, "admin.crt"), AdminKey: filepath.Join(dir, "admin.key"),
		SAPub: filepath.Join(dir, "sa.pub"), SAKey: filepath.Join(dir, "sa.key"),
	}
	now := time.Now().Add(-time.Hour)
	ca, err := newCert(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kubernaut-test-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the CA: %w", err)
	}
	serving, err := newCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now,
		NotAfter:    now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(firstServiceIP)}, ips...),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the apiserver certificate: %w", err)
	}
	admin, err := newCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubernaut-admin", Organization: []string{"system:masters"}},
		NotBefore:   now,
		NotAfter:    now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the admin certificate: %w", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("creating the service-account key: %w", err)
	}

	p.ca = ca
	if p.caPEM, err = writeKeyPair(ca, p.CACert, p.CAKey); err != nil {
		return nil, err
	}
	if _, err = writeKeyPair(serving, p.ServingCert, p.ServingKey); err != nil {
		return nil, err
	}
	if p.adminCertPEM, err = writeKeyPair(admin, p.AdminCert, p.AdminKey); err != nil {
		return nil, err
	}
	if p.adminKeyPEM, err = os.ReadFile(p.AdminKey); err != nil {
		return nil, err
	}
	keyDER := x509.MarshalPKCS1PrivateKey(saKey)
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the service-account public key: %w", err)
	}
	if err := writePEM(p.SAKey, "RSA PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	if err := writePEM(p.SAPub, "PUBLIC KEY", pubDER); err != nil {
		return nil, err
	}
	return p, nil
}

// clientCert issues a client certificate for user cn in groups orgs and returns its files
// (<dir>/<name>.crt, .key).
func (p *pki) clientCert(name, cn string, orgs ...string) (certFile, keyFile string, err error) {
	now := time.Now().Add(-time.Hour)
	kp, err := newCert(p.ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:   now,
		NotAfter:    now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", "", fmt.Errorf("creating the certificate of %s: %w", cn, err)
	}
	certFile, keyFile = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	_, err = writeKeyPair(kp, certFile, keyFile)
	return certFile, keyFile, err
}

// newCert signs tmpl with parent (self-signed when parent is nil) over a new ECDSA key.
func newCert(parent *keyPair, tmpl *x509.Certificate) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// writeKeyPair writes the certificate and key as PEM files and returns the certificate PEM.
func writeKeyPair(kp *keyPair, certFile, keyFile string) ([]byte, error) {
	keyDER, err := x509.MarshalECPrivateKey(kp.key.(*ecdsa.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("encoding key %s: %w", keyFile, err)
	}
	if err := writePEM(keyFile, "EC PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", kp.cert.Raw); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw}), nil
}

func writePEM(file, typ string, der []byte) error {
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
