package main

import (
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a self-contained kubeconfig (all certificates inline) for one identity.
func writeKubeconfig(path, clusterName, userName, server string, caPEM, certPEM, keyPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = caPEM
	cfg.Clusters[clusterName] = cluster

	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = certPEM
	user.ClientKeyData = keyPEM
	cfg.AuthInfos[userName] = user

	kubeContext := clientcmdapi.NewContext()
	kubeContext.Cluster = clusterName
	kubeContext.AuthInfo = userName
	kubeContext.Namespace = "default"
	cfg.Contexts[clusterName] = kubeContext
	cfg.CurrentContext = clusterName

	// WriteToFile creates the file with mode 0600: it holds a private key.
	return clientcmd.WriteToFile(*cfg, path)
}
