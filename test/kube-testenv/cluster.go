package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// defaultControllers are the kube-controller-manager controllers that service-account tokens need,
// plus clusterrole-aggregation-controller: without it the built-in aggregated ClusterRoles
// (admin, edit, view) have no rules, and RBAC would behave unlike any real cluster.
var defaultControllers = []string{
	"serviceaccount-token-controller",          // fills kubernetes.io/service-account-token Secrets
	"serviceaccount-controller",                // creates the "default" ServiceAccount per namespace
	"root-ca-certificate-publisher-controller", // publishes kube-root-ca.crt in every namespace
	"namespace-controller",                     // empties and removes deleted namespaces
	"clusterrole-aggregation-controller",       // fills admin/edit/view from their aggregation rules
}

const (
	// serviceCIDR is the ClusterIP range; its first address names the apiserver in-cluster.
	serviceCIDR = "10.0.0.0/24"
	// serviceAccountIssuer is what a real cluster made by kubeadm uses.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// portAttempts bounds retries when another process takes the apiserver port between our probe
	// and the apiserver's bind (the apiserver cannot be handed an open listener through flags).
	portAttempts = 3
	pollInterval = 200 * time.Millisecond
)

type clusterOptions struct {
	dir              string
	name             string
	controllers      []string
	exitOnStdinClose bool
	removeDir        bool
	startTimeout     time.Duration
	verbosity        int
	keepData         bool // keep.go
	// webhookClientCert: kube-apiserver presents a client certificate to admission webhooks.
	webhookClientCert bool
	auditPolicy       string // audit.go
}

// readyLine is the single JSON line printed on stdout once the cluster can be used.
type readyLine struct {
	Name       string `json:"name"`
	Kubeconfig string `json:"kubeconfig"`
	Server     string `json:"server"`
	CAFile     string `json:"caFile"`
	Dir        string `json:"dir"`
	PID        int    `json:"pid"`
	// WebhookClientCAFile signs the certificate kube-apiserver presents to webhooks
	// (--webhook-client-cert only): give it to a webhook as its client CA.
	WebhookClientCAFile string `json:"webhookClientCaFile,omitempty"`
	// AuditLog is kube-apiserver's audit log (--audit-policy only).
	AuditLog string `json:"auditLog,omitempty"`
}

// cluster is a running control plane. Fields are set as the components come up, so shutdown can
// be called at any point of startup.
type cluster struct {
	opts              clusterOptions
	pki               pkiFiles
	creds             *credentials
	etcd              *embed.Etcd
	etcdDataDir       string
	etcdURL           string
	apiserver         *child
	controllerManager *child
	server            string
	adminKubeconfig   string
	kcmKubeconfig     string
	dirPrepared       bool // --dir was empty or created by us, so it is ours to remove
	keptPort          int  // the API server port of a kept cluster started again (keep.go), else 0
	logf              func(format string, args ...any)

	webhookAuth *webhookClientAuth // --webhook-client-cert
}

func parseClusterFlags(args []string) (clusterOptions, error) {
	fs := flag.NewFlagSet("kube-testenv cluster", flag.ContinueOnError)
	opts := clusterOptions{}
	fs.StringVar(&opts.dir, "dir", "", "directory for the cluster's certificates, kubeconfigs, logs and etcd data; "+
		"created if missing, must be empty (required)")
	fs.StringVar(&opts.name, "name", "kube-testenv", "cluster name: the kubeconfig's cluster and context name")
	controllers := fs.String("controllers", strings.Join(defaultControllers, ","),
		"comma-separated kube-controller-manager controllers to run")
	fs.BoolVar(&opts.exitOnStdinClose, "exit-on-stdin-close", true,
		"shut down when stdin reaches EOF, so a parent that dies never leaves a cluster behind")
	fs.BoolVar(&opts.removeDir, "remove-dir", false,
		"remove --dir and everything in it on exit, for throw-away clusters (default: remove only the etcd data)")
	fs.DurationVar(&opts.startTimeout, "start-timeout", 3*time.Minute, "give up if not ready within this time")
	fs.IntVar(&opts.verbosity, "v", 1, "log verbosity of kube-apiserver and kube-controller-manager (klog --v)")
	addKeepDataFlag(fs, &opts)
	addAuditFlag(fs, &opts)
	fs.BoolVar(&opts.webhookClientCert, "webhook-client-cert", false,
		"kube-apiserver presents a client certificate to admission webhooks (an AdmissionConfiguration "+
			"kubeconfig); the CA that signed it is pki/webhook-client-ca.crt, in the ready line as webhookClientCaFile")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if err := validateKeepData(opts); err != nil {
		return opts, err
	}
	if err := checkAuditPolicy(opts); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if opts.dir == "" {
		return opts, errors.New("--dir is required")
	}
	if !isDNSLabel(opts.name) {
		return opts, fmt.Errorf("--name %q must be a DNS label (lower-case letters, digits, '-')", opts.name)
	}
	for _, c := range strings.Split(*controllers, ",") {
		if c = strings.TrimSpace(c); c != "" {
			opts.controllers = append(opts.controllers, c)
		}
	}
	abs, err := filepath.Abs(opts.dir)
	if err != nil {
		return opts, err
	}
	opts.dir = abs
	return opts, nil
}

func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func runCluster(args []string) int {
	opts, err := parseClusterFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-testenv cluster: %v\n", err)
		return 2
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "kube-testenv[%s]: %s\n", opts.name, fmt.Sprintf(format, args...))
	}

	// Every reason to stop cancels ctx, during startup as well as afterwards.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// Whoever reads our stdout and stderr may be gone before we are (a killed test runner). Without
	// this, Go's default for a write to a broken pipe on fd 1 or 2 is to die of SIGPIPE on the spot,
	// skipping the orderly shutdown; with it, the write just fails.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-signals
		cancel(fmt.Errorf("received %s", sig))
	}()
	if opts.exitOnStdinClose {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel(errors.New("stdin closed"))
		}()
	}

	c := &cluster{opts: opts, logf: logf}
	started := time.Now()
	if err := c.start(ctx); err != nil {
		if ctx.Err() != nil {
			logf("startup interrupted: %v", context.Cause(ctx))
		} else {
			logf("error: %v", err)
		}
		c.shutdown()
		return 1
	}
	logf("ready in %.1fs: %s", time.Since(started).Seconds(), c.server)

	line, err := json.Marshal(readyLine{
		Name: opts.name, Kubeconfig: c.adminKubeconfig, Server: c.server,
		CAFile: c.pki.caCert, Dir: opts.dir, PID: os.Getpid(),
	}.withWebhookClientCA(c.webhookAuth).withAuditLog(c.auditLogPath()))
	if err != nil {
		logf("error: %v", err)
		c.shutdown()
		return 1
	}
	fmt.Fprintln(os.Stdout, string(line))

	code := 0
	select {
	case <-ctx.Done():
		logf("shutting down: %v", context.Cause(ctx))
	case <-c.apiserver.done:
		logf("error: kube-apiserver exited (%s); log tail:\n%s", c.apiserver.exitDescription(), logTail(c.apiserver.logPath))
		code = 1
	case <-c.controllerManager.done:
		logf("error: kube-controller-manager exited (%s); log tail:\n%s",
			c.controllerManager.exitDescription(), logTail(c.controllerManager.logPath))
		code = 1
	case err := <-c.etcd.Err():
		logf("error: etcd failed: %v", err)
		code = 1
	}
	c.shutdown()
	return code
}

func (c *cluster) start(ctx context.Context) error {
	dir := c.opts.dir
	pkiDir := filepath.Join(dir, "pki")
	logDir := filepath.Join(dir, "logs")
	kept, err := c.startAgainIfKept()
	if err != nil {
		return err
	}
	if !kept {
		if err := c.preparePKI(dir, pkiDir, logDir); err != nil {
			return err
		}
	}
	creds := c.creds
	if c.opts.webhookClientCert {
		if c.webhookAuth, err = writeWebhookClientAuth(pkiDir, dir); err != nil {
			return fmt.Errorf("webhook client certificate: %w", err)
		}
	}

	step := time.Now()
	// A kept cluster's etcd dir is left alone on exit: shutdown removes c.etcdDataDir otherwise.
	etcdDir := filepath.Join(dir, "etcd")
	c.etcd, c.etcdURL, err = startEtcd(etcdDir, filepath.Join(logDir, "etcd.log"), c.opts.startTimeout, c.opts.keepData)
	if !c.opts.keepData {
		c.etcdDataDir = etcdDir
	}
	if err != nil {
		return err
	}
	c.logf("etcd ready on %s (%.1fs)", c.etcdURL, time.Since(step).Seconds())

	step = time.Now()
	if err := c.startAPIServer(ctx, filepath.Join(logDir, "kube-apiserver.log")); err != nil {
		return err
	}
	c.logf("kube-apiserver ready on %s, pid %d (%.1fs)", c.server, c.apiserver.pid(), time.Since(step).Seconds())

	step = time.Now()
	c.adminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	c.kcmKubeconfig = filepath.Join(dir, "controller-manager.kubeconfig")
	// A kept cluster's kubeconfigs name the same port and certificates: they stay as they are, so
	// a client reading one meanwhile never sees a half-written file.
	if !kept {
		if err := writeKubeconfig(c.adminKubeconfig, c.opts.name, c.opts.name+"-admin", c.server,
			creds.caPEM, creds.adminCertPEM, creds.adminKeyPEM); err != nil {
			return err
		}
		if err := writeKubeconfig(c.kcmKubeconfig, c.opts.name, "kube-controller-manager", c.server,
			creds.caPEM, creds.controllerManagerCertPEM, creds.controllerManagerKeyPEM); err != nil {
			return err
		}
	}
	c.controllerManager, err = startChild(componentControllerManager, c.controllerManagerArgs(),
		filepath.Join(logDir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	if err := c.waitControllersWorking(ctx); err != nil {
		return err
	}
	c.logf("kube-controller-manager working, pid %d (%.1fs)", c.controllerManager.pid(), time.Since(step).Seconds())
	return nil
}

// preparePKI makes a new cluster's directories and certificates in an empty --dir.
func (c *cluster) preparePKI(dir, pkiDir, logDir string) error {
	if err := prepareDir(dir); err != nil {
		return err
	}
	c.dirPrepared = true
	for _, d := range []string{pkiDir, logDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	step := time.Now()
	c.pki = newPKIFiles(pkiDir)
	creds, err := writePKI(c.pki, net.IPv4(10, 0, 0, 1))
	if err != nil {
		return fmt.Errorf("generate certificates: %w", err)
	}
	c.creds = creds
	c.logf("certificates in %s (%.1fs)", pkiDir, time.Since(step).Seconds())
	return nil
}

// prepareDir creates dir, or accepts it if empty: two clusters must never share files.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("--dir %s is not empty (to start a cluster kept there with --keep-data again, pass --keep-data)", dir)
	}
	return nil
}

func (c *cluster) gcEnabled() bool {
	return slices.Contains(c.opts.controllers, "garbage-collector-controller") ||
		slices.Contains(c.opts.controllers, "*")
}

func (c *cluster) apiServerArgs(port int) []string {
	args := []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,
		"--client-ca-file=" + c.pki.caCert,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + c.pki.serviceAccountPublicKey,
		"--service-account-signing-key-file=" + c.pki.serviceAccountPrivate,
		"--service-cluster-ip-range=" + serviceCIDR,
		// The "lease" reconciler would publish 127.0.0.1 as the endpoint of the kubernetes Service,
		// which endpoint validation rejects (loopback).
		"--endpoint-reconciler-type=none",
		// Must match whether the controller manager runs the garbage collector; otherwise
		// foreground deletions wait forever for a collector that never comes.
		"--enable-garbage-collector=" + strconv.FormatBool(c.gcEnabled()),
		"--profiling=false",
		"--v=" + strconv.Itoa(c.opts.verbosity),
	}
	if c.webhookAuth != nil {
		args = append(args, "--admission-control-config-file="+c.webhookAuth.admissionConfigFile)
	}
	args = append(args, c.auditArgs()...)
	return args
}

func (c *cluster) controllerManagerArgs() []string {
	return []string{
		"--kubeconfig=" + c.kcmKubeconfig,
		"--controllers=" + strings.Join(c.opts.controllers, ","),
		// Signs the legacy tokens in kubernetes.io/service-account-token Secrets; the apiserver
		// verifies them with --service-account-key-file.
		"--service-account-private-key-file=" + c.pki.serviceAccountPrivate,
		// Becomes ca.crt in token Secrets and in the kube-root-ca.crt ConfigMaps.
		"--root-ca-file=" + c.pki.caCert,
		// No serving port: nothing scrapes it, and a fixed default port would clash between clusters.
		"--secure-port=0",
		"--leader-elect=false",
		// Each controller acts as its own ServiceAccount (kube-system/<controller>) with the
		// bootstrap RBAC role made for it, as kubeadm sets it up. The controller manager's own
		// identity, system:kube-controller-manager, is not allowed to do the controllers' work.
		"--use-service-account-credentials=true",
		"--enable-garbage-collector=" + strconv.FormatBool(c.gcEnabled()),
		"--v=" + strconv.Itoa(c.opts.verbosity),
	}
}

func (c *cluster) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.X509KeyPair(c.creds.adminCertPEM, c.creds.adminKeyPEM)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.creds.caPEM) {
		return nil, errors.New("bad CA certificate")
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		}},
	}, nil
}

// startAPIServer starts kube-apiserver on a free port and waits until /readyz says ok.
func (c *cluster) startAPIServer(ctx context.Context, logPath string) error {
	client, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	for attempt := 1; ; attempt++ {
		port := c.keptPort
		if port == 0 {
			if port, err = freePort(); err != nil {
				return err
			}
		}
		c.server = "https://127.0.0.1:" + strconv.Itoa(port)
		c.apiserver, err = startChild(componentAPIServer, c.apiServerArgs(port), logPath)
		if err != nil {
			return err
		}
		err = c.waitReadyz(ctx, client)
		if err == nil {
			return nil
		}
		inUse := c.apiserver.exited() && strings.Contains(logTail(logPath), "address already in use")
		if inUse && c.keptPort != 0 {
			return fmt.Errorf("port %d of the kept cluster is in use by another process, and its kubeconfigs name "+
				"that port: stop that process, or start a new cluster in an empty --dir", port)
		}
		if !inUse || attempt == portAttempts {
			return err
		}
		c.logf("port %d was taken; retrying on another port", port)
	}
}

func (c *cluster) waitReadyz(ctx context.Context, client *http.Client) error {
	deadline := time.Now().Add(c.opts.startTimeout)
	lastStatus := "no answer"
	for {
		if c.apiserver.exited() {
			return fmt.Errorf("kube-apiserver exited (%s); log tail:\n%s",
				c.apiserver.exitDescription(), logTail(c.apiserver.logPath))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastStatus = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			lastStatus = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after %s (last /readyz: %s); log: %s",
				c.opts.startTimeout, lastStatus, c.apiserver.logPath)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// waitControllersWorking waits until the controller manager has visibly done its job in the
// "default" namespace: the default ServiceAccount and the kube-root-ca.crt ConfigMap exist. From
// then on token Secrets get filled promptly.
func (c *cluster) waitControllersWorking(ctx context.Context) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", c.adminKubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	wantSA := slices.Contains(c.opts.controllers, "serviceaccount-controller")
	wantCA := slices.Contains(c.opts.controllers, "root-ca-certificate-publisher-controller")
	deadline := time.Now().Add(c.opts.startTimeout)
	for {
		if c.controllerManager.exited() {
			return fmt.Errorf("kube-controller-manager exited (%s); log tail:\n%s",
				c.controllerManager.exitDescription(), logTail(c.controllerManager.logPath))
		}
		missing := []string{}
		if wantSA {
			if _, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
				if !apierrors.IsNotFound(err) {
					return err
				}
				missing = append(missing, "serviceaccount default/default")
			}
		}
		if wantCA {
			if _, err := client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
				if !apierrors.IsNotFound(err) {
					return err
				}
				missing = append(missing, "configmap default/kube-root-ca.crt")
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-controller-manager did not create %s within %s; log: %s",
				strings.Join(missing, ", "), c.opts.startTimeout, c.controllerManager.logPath)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// shutdown stops the components in reverse order of their dependencies. Safe at any point.
func (c *cluster) shutdown() {
	if c.controllerManager != nil {
		c.controllerManager.stop(10 * time.Second)
	}
	if c.apiserver != nil {
		c.apiserver.stop(20 * time.Second)
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	// The etcd data is worthless without the rest of the cluster; the certificates, kubeconfigs
	// and logs stay for whoever owns --dir, unless it is a throw-away cluster.
	remove := c.etcdDataDir
	if c.opts.removeDir && c.dirPrepared {
		remove = c.opts.dir
	}
	if remove != "" {
		if err := os.RemoveAll(remove); err != nil {
			c.logf("warning: %v", err)
		}
	}
	c.logf("stopped")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("unexpected listener address %v", l.Addr())
	}
	return addr.Port, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// logTail returns the last lines of a component log, for error messages.
func logTail(path string) string {
	const maxBytes = 4096
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Size() > maxBytes {
		_, _ = f.Seek(-maxBytes, io.SeekEnd)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
