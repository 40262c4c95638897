// Command gensite writes a generated site of N guests for measurements
// (docs/performance.md):
//
//	go run ./internal/bench/gensite -guests 1000 -records 0 -out DIR
//
// It starts from config/phoenix_hypervisor_config.json unless -example
// names another hypervisor file.
package main

import (
	"flag"
	"fmt"
	"os"

	"phoenix/internal/site/sitegen"
)

func main() {
	guests := flag.Int("guests", 100, "how many guests (half containers, half VMs)")
	records := flag.Int("records", 0, "how many DNS records in all")
	out := flag.String("out", "", "the directory to write the three site files into")
	example := flag.String("example", "config/phoenix_hypervisor_config.json", "the hypervisor file to start from")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	b, err := os.ReadFile(*example)
	if err == nil {
		err = sitegen.Write(*out, b, *guests, *records)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gensite:", err)
		os.Exit(1)
	}
}
