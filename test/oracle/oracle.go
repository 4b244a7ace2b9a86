package main

// The oracle: istiod's own verdict on kubeconfigs. The verdict comes from Istio's
// DefaultBuildClientsFromConfig (pkg/kube/multicluster/secretcontroller.go), the ClientBuilder
// that istiod's secret controller calls for every data key of a remote secret: load, validate,
// sanitize (NewUntrustedRestConfig in pkg/kube/util.go), then build the clients. Nothing of it is
// ported; the TypeScript differential tests compare our reader against this.
//
// Input: JSON lines on stdin, {"id": "...", "kubeconfig": "<base64 of the bytes>"}.
// Output: one JSON line per input line, in order, on stdout (see Result).
//
// Run it in an empty temporary directory: Validate opens certificate-authority,
// client-certificate and client-key paths, and relative paths resolve against the cwd.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/kube/multicluster"
)

// allowListEnv is istiod's allow-list of insecure kubeconfig options. Istio reads it once, when
// its features package initialises; the oracle sets it only from its own flag (see runOracle).
const allowListEnv = "PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS"

// reexecMarker tells the re-executed oracle that its environment was set on purpose.
const reexecMarker = "ISTIO_TESTENV_ORACLE_ENV_SET"

// Case is one input line.
type Case struct {
	ID string `json:"id"`
	// Kubeconfig is base64 in JSON (encoding/json's []byte), so any bytes survive the trip.
	Kubeconfig []byte `json:"kubeconfig"`
}

// Verdict is what istiod's client builder said.
type Verdict struct {
	// Accepted is true when istiod would build clients for the remote from this kubeconfig.
	Accepted bool `json:"accepted"`
	// Stage is where it stopped: empty, load, validate, sanitize, client-config or clients.
	Stage string `json:"stage,omitempty"`
	// Error is Istio's error text (values that could hold secrets cut off).
	Error string `json:"error,omitempty"`
}

// User is the part of an AuthInfo the tests compare with our reading.
type User struct {
	Name string `json:"name"`
	// TokenSHA256 lets the tests compare tokens without the oracle printing one.
	TokenSHA256       string  `json:"tokenSha256"`
	Exec              bool    `json:"exec"`
	TokenFile         bool    `json:"tokenFile"`
	ClientKey         bool    `json:"clientKey"`
	ClientCertificate bool    `json:"clientCertificate"`
	AuthProvider      *string `json:"authProvider"`
}

// Cluster is where istiod would connect: what SSRF and CA-trust review look at.
type Cluster struct {
	Name                 string `json:"name"`
	Server               string `json:"server"`
	ProxyURL             string `json:"proxyUrl"`
	CertificateAuthority string `json:"certificateAuthority"`
}

// Result is one output line.
type Result struct {
	ID      string  `json:"id"`
	Verdict Verdict `json:"verdict"`
	// The rest is client-go's reading (the version Istio pins), for comparing what both readers
	// see when both accept, and for explaining a verdict. Empty when Load failed.
	Loaded         bool      `json:"loaded"`
	CurrentContext string    `json:"currentContext"`
	Users          []User    `json:"users"`
	Clusters       []Cluster `json:"clusters"`
	// ValidateErrors are clientcmd.Validate's errors about the config itself; FileErrors are its
	// "unable to read" errors, which depend on the disk of whoever loads the kubeconfig.
	ValidateErrors []string `json:"validateErrors"`
	FileErrors     []string `json:"fileErrors"`
}

// runOracle serves batches until stdin ends. With --insecure-kubeconfig-options, istiod's
// allow-list variable is set to exactly that value; without it, the variable is removed, so a
// value inherited from the caller's environment can never change a verdict. Istio parses the
// variable itself, when its package initialises, so the oracle re-executes itself with the
// environment it wants rather than imitating the parse.
func runOracle(args []string) int {
	flags := flag.NewFlagSet("oracle", flag.ContinueOnError)
	allow := flags.String("insecure-kubeconfig-options", "", "istiod's "+allowListEnv+" for this run")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	allowSet := false
	flags.Visit(func(f *flag.Flag) { allowSet = allowSet || f.Name == "insecure-kubeconfig-options" })
	if os.Getenv(reexecMarker) != "1" {
		env := withoutVariables(os.Environ(), allowListEnv, reexecMarker)
		if allowSet {
			env = append(env, allowListEnv+"="+*allow)
		}
		env = append(env, reexecMarker+"=1")
		executable, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "oracle:", err)
			return 2
		}
		err = syscall.Exec(executable, os.Args, env)
		fmt.Fprintln(os.Stderr, "oracle: re-executing with istiod's allow-list set:", err)
		return 2
	}
	if got, set := os.LookupEnv(allowListEnv); set != allowSet || got != *allow {
		fmt.Fprintln(os.Stderr, "oracle: the allow-list environment is not what the flag says")
		return 2
	}
	fmt.Fprintf(os.Stderr, "oracle: istiod's allow-list holds %q\n", sortedKeys(features.InsecureKubeConfigOptions))
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "oracle:", err)
		return 2
	}
	return 0
}

func withoutVariables(env []string, names ...string) []string {
	kept := env[:0:0]
	for _, entry := range env {
		drop := false
		for _, name := range names {
			drop = drop || strings.HasPrefix(entry, name+"=")
		}
		if !drop {
			kept = append(kept, entry)
		}
	}
	return kept
}

func serve(in io.Reader, out io.Writer) error {
	reader := bufio.NewReaderSize(in, 1<<20)
	writer := bufio.NewWriterSize(out, 1<<20)
	encoder := json.NewEncoder(writer)
	encoder.SetEscapeHTML(false)
	for {
		line, readErr := reader.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			var c Case
			if err := json.Unmarshal(line, &c); err != nil {
				return fmt.Errorf("bad input line: %w", err)
			}
			if err := encoder.Encode(inspect(c)); err != nil {
				return err
			}
		}
		if errors.Is(readErr, io.EOF) {
			break
		}
		if readErr != nil {
			return readErr
		}
		// The harness writes a batch and waits for all of its answers: flush when the input
		// has nothing more buffered, so a batch never waits on a full output buffer.
		if reader.Buffered() == 0 {
			if err := writer.Flush(); err != nil {
				return err
			}
		}
	}
	return writer.Flush()
}

func inspect(c Case) Result {
	result := Result{
		ID:             c.ID,
		Verdict:        verdict(c.Kubeconfig),
		Users:          []User{},
		Clusters:       []Cluster{},
		ValidateErrors: []string{},
		FileErrors:     []string{},
	}
	config, err := load(c.Kubeconfig)
	if err != nil || len(c.Kubeconfig) == 0 {
		return result
	}
	result.Loaded = true
	result.CurrentContext = config.CurrentContext
	for _, validateErr := range flatten(clientcmd.Validate(*config)) {
		text := *message(validateErr)
		if strings.HasPrefix(text, "unable to read ") {
			result.FileErrors = append(result.FileErrors, text)
		} else {
			result.ValidateErrors = append(result.ValidateErrors, text)
		}
	}
	sort.Strings(result.ValidateErrors)
	sort.Strings(result.FileErrors)
	for _, name := range sortedKeys(config.AuthInfos) {
		result.Users = append(result.Users, summarize(name, config.AuthInfos[name]))
	}
	for _, name := range sortedKeys(config.Clusters) {
		cluster := config.Clusters[name]
		result.Clusters = append(result.Clusters, Cluster{
			Name:                 name,
			Server:               cluster.Server,
			ProxyURL:             cluster.ProxyURL,
			CertificateAuthority: cluster.CertificateAuthority,
		})
	}
	return result
}

// verdict runs istiod's client builder. It builds clients without contacting the server: a
// connection is only made when an informer starts, which the oracle never does.
func verdict(kubeconfig []byte) (v Verdict) {
	defer func() {
		if recovered := recover(); recovered != nil {
			v = Verdict{Stage: "panic", Error: fmt.Sprintf("panic in istiod's client builder: %v", recovered)}
		}
	}()
	client, err := multicluster.DefaultBuildClientsFromConfig(kubeconfig, "oracle")
	if err != nil {
		return Verdict{Stage: stageOf(err.Error()), Error: *message(err)}
	}
	client.Shutdown()
	return Verdict{Accepted: true}
}

// stageOf names the step of DefaultBuildClientsFromConfig that failed, from the prefixes its
// errors carry; an unknown prefix is a client-config error (ClientConfig() returns it bare).
func stageOf(text string) string {
	for _, stage := range []struct{ prefix, name string }{
		{"kubeconfig is empty", "empty"},
		{"kubeconfig cannot be loaded", "load"},
		{"kubeconfig is not valid", "validate"},
		{"kubeconfig is not allowed", "sanitize"},
		{"failed to create kube clients", "clients"},
	} {
		if strings.HasPrefix(text, stage.prefix) {
			return stage.name
		}
	}
	return "client-config"
}

func sortedKeys[V any](items map[string]V) []string {
	keys := make([]string, 0, len(items))
	for key := range items {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// load is clientcmd.Load with a recover: a panic in the decoder is a finding, not a crash of
// the whole batch.
func load(data []byte) (config *clientcmdapi.Config, err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			config, err = nil, fmt.Errorf("panic in clientcmd.Load: %v", recovered)
		}
	}()
	return clientcmd.Load(data)
}

func summarize(name string, auth *clientcmdapi.AuthInfo) User {
	digest := sha256.Sum256([]byte(auth.Token))
	user := User{
		Name:              name,
		TokenSHA256:       hex.EncodeToString(digest[:]),
		Exec:              auth.Exec != nil,
		TokenFile:         auth.TokenFile != "",
		ClientKey:         auth.ClientKey != "",
		ClientCertificate: auth.ClientCertificate != "",
	}
	if auth.AuthProvider != nil {
		provider := auth.AuthProvider.Name
		user.AuthProvider = &provider
	}
	return user
}

// flatten opens Validate's aggregate error into its parts.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	var aggregate utilerrors.Aggregate
	if errors.As(err, &aggregate) {
		var all []error
		for _, part := range aggregate.Errors() {
			all = append(all, flatten(part)...)
		}
		return all
	}
	return []error{err}
}

// message is an error's text without the Go values some client-go and sigs.k8s.io/yaml errors
// append (a whole list of users, a map value): those can hold tokens, and the tests print errors.
func message(err error) *string {
	text := err.Error()
	for _, marker := range []string{" in list: ", ", value: "} {
		if index := strings.Index(text, marker); index >= 0 {
			text = text[:index] + " (values omitted)"
		}
	}
	return &text
}
