// check-rules validates Prometheus rule groups with Prometheus' own rule parser (the code
// `promtool check rules` and the Prometheus server run): YAML fields (unknown ones are errors),
// PromQL of every expr, label names, and the Go templates of labels and annotations.
//
// Usage: check-rules FILE   (a rules file: `groups:` at the top, as a PrometheusRule's spec)
// Prints "SUCCESS: N rules found" and exits 0, or one line per error and exits 1.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: check-rules FILE")
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	groups, errs := rulefmt.ParseFile(os.Args[1], false, model.UTF8Validation, parser.NewParser(parser.Options{}), logger)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, "FAILED:", err)
		}
		os.Exit(1)
	}
	rules := 0
	for _, group := range groups.Groups {
		rules += len(group.Rules)
	}
	fmt.Printf("SUCCESS: %d rules found\n", rules)
}
