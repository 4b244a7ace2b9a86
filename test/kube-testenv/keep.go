package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
)

// A kept cluster (--keep-data) survives its supervisor: the etcd data stays in DIR/etcd next to the
// certificates and kubeconfigs, and `cluster --keep-data --dir DIR` on that DIR starts the same
// cluster again (same CA and client certificates, same API server port, so every kubeconfig and
// token issued before still works) over the data etcd reads back from disk. That is a real restart
// of the whole control plane, as after a reboot of a single-node control plane.

// addKeepDataFlag registers --keep-data; all of this option lives in this file.
func addKeepDataFlag(fs *flag.FlagSet, opts *clusterOptions) {
	fs.BoolVar(&opts.keepData, "keep-data", false,
		"keep the etcd data on exit (written with fsync), and if --dir holds a cluster kept that way, "+
			"start it again: same certificates, kubeconfigs, API server port and stored objects")
}

func validateKeepData(opts clusterOptions) error {
	if opts.keepData && opts.removeDir {
		return errors.New("--keep-data and --remove-dir cannot be used together: one keeps the data, the other removes it")
	}
	return nil
}

// keptCluster is what a previous run with --keep-data left in --dir.
type keptCluster struct {
	pki    pkiFiles
	creds  *credentials
	server string
	port   int
}

// holdsKeptCluster reports whether dir is not empty, so that start must reuse it (or refuse it).
func holdsKeptCluster(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(entries) > 0, nil
}

// loadKeptCluster reads back the certificates, the API server address and checks that the etcd
// data is there. Every failure names the file and what to do.
func loadKeptCluster(dir, name string) (*keptCluster, error) {
	notKept := func(what string, err error) error {
		return fmt.Errorf("--dir %s is not empty and is not a cluster kept with --keep-data (%s: %v); "+
			"pass an empty or new --dir", dir, what, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd", "member")); err != nil {
		return nil, notKept("etcd data", err)
	}
	kubeconfigPath := filepath.Join(dir, "admin.kubeconfig")
	cfg, err := clientcmd.LoadFromFile(kubeconfigPath)
	if err != nil {
		return nil, notKept("admin kubeconfig", err)
	}
	cluster, ok := cfg.Clusters[name]
	if !ok {
		return nil, fmt.Errorf("--dir %s holds cluster %q, not %q: pass --name %s", dir, cfg.CurrentContext, name,
			cfg.CurrentContext)
	}
	server, err := url.Parse(cluster.Server)
	if err != nil {
		return nil, notKept("server in "+kubeconfigPath, err)
	}
	port, err := strconv.Atoi(server.Port())
	if err != nil || server.Hostname() != "127.0.0.1" {
		return nil, notKept("server in "+kubeconfigPath, fmt.Errorf("%q is not https://127.0.0.1:<port>", cluster.Server))
	}

	files := newPKIFiles(filepath.Join(dir, "pki"))
	creds := &credentials{}
	for _, read := range []struct {
		path string
		into *[]byte
	}{
		{files.caCert, &creds.caPEM},
		{files.adminCert, &creds.adminCertPEM},
		{files.adminKey, &creds.adminKeyPEM},
		{files.controllerManagerCert, &creds.controllerManagerCertPEM},
		{files.controllerManagerKey, &creds.controllerManagerKeyPEM},
	} {
		data, err := os.ReadFile(read.path)
		if err != nil {
			return nil, notKept("certificates", err)
		}
		*read.into = data
	}
	for _, path := range []string{files.servingCert, files.servingKey, files.serviceAccountPublicKey, files.serviceAccountPrivate} {
		if _, err := os.Stat(path); err != nil {
			return nil, notKept("certificates", err)
		}
	}
	return &keptCluster{pki: files, creds: creds, server: cluster.Server, port: port}, nil
}

// startAgainIfKept loads a kept cluster from a non-empty --dir when --keep-data is set, so start
// reuses its certificates and port; it returns false for a new cluster.
func (c *cluster) startAgainIfKept() (bool, error) {
	if !c.opts.keepData {
		return false, nil
	}
	nonEmpty, err := holdsKeptCluster(c.opts.dir)
	if err != nil || !nonEmpty {
		return false, err
	}
	kept, err := loadKeptCluster(c.opts.dir, c.opts.name)
	if err != nil {
		return false, err
	}
	c.pki, c.creds, c.keptPort = kept.pki, kept.creds, kept.port
	c.logf("starting the kept cluster in %s again on %s", c.opts.dir, kept.server)
	return true, nil
}
