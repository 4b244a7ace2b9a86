package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// webhookClientCommonName is the subject kube-apiserver presents to admission webhooks.
const webhookClientCommonName = "kube-apiserver-webhook-client"

// webhookClientAuth is what --webhook-client-cert writes: a CA of its own (not the cluster CA, so
// that only this one certificate chains to it), a client certificate it signed for kube-apiserver,
// the kubeconfig that hands that certificate to every webhook, and the AdmissionConfiguration that
// names the kubeconfig.
type webhookClientAuth struct {
	caFile              string // what a webhook trusts: --client-ca-file
	kubeconfigFile      string
	admissionConfigFile string // kube-apiserver --admission-control-config-file
}

// admissionConfiguration gives both webhook admission plugins the kubeconfig. Its users are looked
// up by the webhook's host:port (for a url webhook), <service>.<namespace>.svc:<port> (for a service
// webhook), or "*"; the test webhooks listen on random ports, so "*" serves them all.
const admissionConfiguration = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %q
  - name: MutatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %q
`

// writeWebhookClientAuth writes those files, or reuses them in a cluster kept with --keep-data and
// started again, so that a webhook trusting the CA keeps trusting the API server.
func writeWebhookClientAuth(pkiDir, dir string) (*webhookClientAuth, error) {
	auth := &webhookClientAuth{
		caFile:              filepath.Join(pkiDir, "webhook-client-ca.crt"),
		kubeconfigFile:      filepath.Join(dir, "webhook-client.kubeconfig"),
		admissionConfigFile: filepath.Join(dir, "admission-control.yaml"),
	}
	if allExist(auth.caFile, auth.kubeconfigFile, auth.admissionConfigFile) {
		return auth, nil
	}
	ca, err := newAuthority("kube-testenv-webhook-client-ca")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.issue(certSpec{commonName: webhookClientCommonName, usage: x509.ExtKeyUsageClientAuth})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(auth.caFile, ca.certPEM, 0o644); err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = certPEM
	user.ClientKeyData = keyPEM
	cfg.AuthInfos["*"] = user
	// WriteToFile creates the file with mode 0600: it holds a private key.
	if err := clientcmd.WriteToFile(*cfg, auth.kubeconfigFile); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(admissionConfiguration, auth.kubeconfigFile, auth.kubeconfigFile)
	if err := os.WriteFile(auth.admissionConfigFile, []byte(config), 0o644); err != nil {
		return nil, err
	}
	return auth, nil
}

func (r readyLine) withWebhookClientCA(auth *webhookClientAuth) readyLine {
	if auth != nil {
		r.WebhookClientCAFile = auth.caFile
	}
	return r
}

func allExist(paths ...string) bool {
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			return false
		}
	}
	return true
}
