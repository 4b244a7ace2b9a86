package main

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

// certValidity is long enough for any test run and short enough that nobody reuses these files.
const certValidity = 7 * 24 * time.Hour

// clockSkew backdates certificates so a slightly skewed clock never makes them "not yet valid".
const clockSkew = time.Hour

// authority is the cluster's own CA: it signs the serving certificate and the client certificates.
type authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

// certSpec says what a leaf certificate is for.
type certSpec struct {
	commonName   string
	organization []string // for client certificates: the Kubernetes groups
	dnsNames     []string
	ips          []net.IP
	usage        x509.ExtKeyUsage
}

// pkiFiles are the paths of everything the control plane needs; the private keys are mode 0600.
type pkiFiles struct {
	caCert, caKey                                  string
	servingCert, servingKey                        string
	adminCert, adminKey                            string
	controllerManagerCert, controllerManagerKey    string
	serviceAccountPublicKey, serviceAccountPrivate string
}

func newPKIFiles(dir string) pkiFiles {
	p := func(name string) string { return filepath.Join(dir, name) }
	return pkiFiles{
		caCert: p("ca.crt"), caKey: p("ca.key"),
		servingCert: p("apiserver.crt"), servingKey: p("apiserver.key"),
		adminCert: p("admin.crt"), adminKey: p("admin.key"),
		controllerManagerCert: p("controller-manager.crt"), controllerManagerKey: p("controller-manager.key"),
		serviceAccountPublicKey: p("sa.pub"), serviceAccountPrivate: p("sa.key"),
	}
}

func newECKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func newAuthority(commonName string) (*authority, error) {
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der)}, nil
}

// issue signs a new leaf certificate and returns it and its key, both PEM encoded.
func (a *authority) issue(spec certSpec) (certPEM, keyPEM []byte, err error) {
	key, err := newECKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.organization},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{spec.usage},
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", spec.commonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// credentials is what the supervisor keeps in memory after writing the files.
type credentials struct {
	caPEM                     []byte
	adminCertPEM, adminKeyPEM []byte
	controllerManagerCertPEM  []byte
	controllerManagerKeyPEM   []byte
}

// writePKI creates the CA, the apiserver serving certificate (IP SAN 127.0.0.1 plus the in-cluster
// names), client certificates for the admin and the controller manager, and the service-account
// signing key pair.
func writePKI(files pkiFiles, serviceIP net.IP) (*credentials, error) {
	ca, err := newAuthority("kube-testenv-ca")
	if err != nil {
		return nil, err
	}
	caKeyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	servingCert, servingKey, err := ca.issue(certSpec{
		commonName: "kube-apiserver",
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		ips:   []net.IP{net.IPv4(127, 0, 0, 1), serviceIP},
		usage: x509.ExtKeyUsageServerAuth,
	})
	if err != nil {
		return nil, err
	}
	// system:masters is the built-in group that RBAC always allows: the admin of this cluster.
	adminCert, adminKey, err := ca.issue(certSpec{
		commonName: "kube-testenv-admin", organization: []string{"system:masters"},
		usage: x509.ExtKeyUsageClientAuth,
	})
	if err != nil {
		return nil, err
	}
	// The controller manager gets the identity that the bootstrap RBAC policy grants its rights to,
	// so RBAC is exercised exactly as in a real cluster.
	kcmCert, kcmKey, err := ca.issue(certSpec{
		commonName: "system:kube-controller-manager", usage: x509.ExtKeyUsageClientAuth,
	})
	if err != nil {
		return nil, err
	}
	// RSA, like kubeadm's default, so tokens look like those of most real clusters (RS256).
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPrivateDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPublicDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}

	writes := []struct {
		path    string
		data    []byte
		private bool
	}{
		{files.caCert, ca.certPEM, false},
		{files.caKey, pemBlock("PRIVATE KEY", caKeyDER), true},
		{files.servingCert, servingCert, false},
		{files.servingKey, servingKey, true},
		{files.adminCert, adminCert, false},
		{files.adminKey, adminKey, true},
		{files.controllerManagerCert, kcmCert, false},
		{files.controllerManagerKey, kcmKey, true},
		{files.serviceAccountPublicKey, pemBlock("PUBLIC KEY", saPublicDER), false},
		{files.serviceAccountPrivate, pemBlock("PRIVATE KEY", saPrivateDER), true},
	}
	for _, w := range writes {
		mode := os.FileMode(0o644)
		if w.private {
			mode = 0o600
		}
		if err := os.WriteFile(w.path, w.data, mode); err != nil {
			return nil, err
		}
	}
	return &credentials{
		caPEM:        ca.certPEM,
		adminCertPEM: adminCert, adminKeyPEM: adminKey,
		controllerManagerCertPEM: kcmCert, controllerManagerKeyPEM: kcmKey,
	}, nil
}
