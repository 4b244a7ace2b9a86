package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// addAuditFlag registers --audit-policy: kube-apiserver writes an audit log (JSON lines) by that
// policy to <dir>/logs/audit.log, and the ready line names the file.
func addAuditFlag(fs *flag.FlagSet, opts *clusterOptions) {
	fs.StringVar(&opts.auditPolicy, "audit-policy", "",
		"audit.k8s.io/v1 Policy file: kube-apiserver writes an audit log by it to <dir>/logs/audit.log (JSON lines)")
}

// checkAuditPolicy makes a missing policy file a one-line error before anything starts.
func checkAuditPolicy(opts clusterOptions) error {
	if opts.auditPolicy == "" {
		return nil
	}
	if _, err := os.Stat(opts.auditPolicy); err != nil {
		return fmt.Errorf("--audit-policy %s: cannot read it (%v)", opts.auditPolicy, err)
	}
	return nil
}

// auditLogPath is where kube-apiserver writes the audit log, or "" without --audit-policy.
func (c *cluster) auditLogPath() string {
	if c.opts.auditPolicy == "" {
		return ""
	}
	return filepath.Join(c.opts.dir, "logs", "audit.log")
}

// auditArgs are kube-apiserver's flags for the log backend: JSON lines, written before the
// request returns (blocking), so a test reads every event of a request it has seen answered.
func (c *cluster) auditArgs() []string {
	if c.opts.auditPolicy == "" {
		return nil
	}
	policy, err := filepath.Abs(c.opts.auditPolicy)
	if err != nil {
		policy = c.opts.auditPolicy
	}
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + c.auditLogPath(),
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
	}
}

func (r readyLine) withAuditLog(path string) readyLine {
	r.AuditLog = path
	return r
}
