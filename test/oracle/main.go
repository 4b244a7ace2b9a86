// Command oracle reports what istiod's secret controller would see in kubeconfigs, using
// client-go exactly as Istio's BuildClientsFromConfig does: clientcmd.Load, clientcmd.Validate,
// the sanitizer's per-user checks, then building a client config. The TypeScript differential
// tests compare our reader against it.
//
// Input: JSON lines on stdin, {"id": "...", "kubeconfig": "<base64 of the bytes>"}.
// Output: one JSON line per input line, in order, on stdout (see Result).
//
// Run it in an empty temporary directory: Validate opens certificate-authority,
// client-certificate and client-key paths, and relative paths resolve against the cwd.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Case is one input line.
type Case struct {
	ID string `json:"id"`
	// Kubeconfig is base64 in JSON (encoding/json's []byte), so any bytes survive the trip.
	Kubeconfig []byte `json:"kubeconfig"`
}

// User is what the sanitizer looks at for one AuthInfo.
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

// Result is one output line. Error fields are null when that step passed or did not run.
type Result struct {
	ID string `json:"id"`
	// Empty is Istio's own first check: a Secret value of zero bytes.
	Empty     bool    `json:"empty"`
	LoadError *string `json:"loadError"`
	// ValidateErrors are clientcmd.Validate's errors about the config itself.
	ValidateErrors []string `json:"validateErrors"`
	// FileErrors are Validate's "unable to read" errors: they depend on istiod's disk, not on
	// the kubeconfig, so the comparison keeps them apart.
	FileErrors     []string  `json:"fileErrors"`
	CurrentContext string    `json:"currentContext"`
	Users          []User    `json:"users"`
	Clusters       []Cluster `json:"clusters"`
	// Unsafe lists what Istio's sanitizer refuses with an empty allow-list, as "<user>: <field>".
	Unsafe []string `json:"unsafe"`
	// ClientConfigError is from building the rest config (istiod's kube.NewClient), which runs
	// only when the sanitizer passed, as in istiod.
	ClientConfigError *string `json:"clientConfigError"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "oracle:", err)
		os.Exit(2)
	}
}

func run(in io.Reader, out io.Writer) error {
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
	result := Result{ID: c.ID, ValidateErrors: []string{}, FileErrors: []string{}, Users: []User{}, Clusters: []Cluster{}, Unsafe: []string{}}
	if len(c.Kubeconfig) == 0 {
		result.Empty = true
	}
	config, err := load(c.Kubeconfig)
	if err != nil {
		result.LoadError = message(err)
		return result
	}
	result.CurrentContext = config.CurrentContext
	for _, validateErr := range flatten(clientcmd.Validate(*config)) {
		text := validateErr.Error()
		if strings.HasPrefix(text, "unable to read ") {
			result.FileErrors = append(result.FileErrors, text)
		} else {
			result.ValidateErrors = append(result.ValidateErrors, text)
		}
	}
	sort.Strings(result.ValidateErrors)
	sort.Strings(result.FileErrors)
	for _, name := range sortedKeys(config.AuthInfos) {
		user := summarize(name, config.AuthInfos[name])
		result.Users = append(result.Users, user)
		result.Unsafe = append(result.Unsafe, unsafeFields(user)...)
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
	if len(result.ValidateErrors) == 0 && len(result.Unsafe) == 0 && !result.Empty {
		if err := buildClientConfig(config); err != nil {
			result.ClientConfigError = message(err)
		}
	}
	return result
}

// buildClientConfig is the part of istiod's kube.NewClient that looks at the kubeconfig. The
// sanitizer has passed, so no client file or token file is named; certificate-authority paths
// are cleared because their only effect here is an "unable to read" error already reported in
// FileErrors (on istiod's disk the file may exist).
func buildClientConfig(config *clientcmdapi.Config) error {
	copied := config.DeepCopy()
	for _, cluster := range copied.Clusters {
		cluster.CertificateAuthority = ""
	}
	_, err := clientcmd.NewDefaultClientConfig(*copied, &clientcmd.ConfigOverrides{}).ClientConfig()
	return err
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

// unsafeFields is Istio's sanitizeKubeConfig with an empty allow-list, written from its
// description: any auth provider but oidc, client-key, client-certificate, tokenFile and exec
// are refused, for every user, current or not. It lists all of them, not just the first.
func unsafeFields(user User) []string {
	var found []string
	if user.AuthProvider != nil && *user.AuthProvider != "oidc" {
		found = append(found, user.Name+": auth-provider "+*user.AuthProvider)
	}
	if user.ClientKey {
		found = append(found, user.Name+": client-key")
	}
	if user.ClientCertificate {
		found = append(found, user.Name+": client-certificate")
	}
	if user.TokenFile {
		found = append(found, user.Name+": tokenFile")
	}
	if user.Exec {
		found = append(found, user.Name+": exec")
	}
	return found
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
