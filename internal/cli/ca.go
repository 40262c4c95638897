package cli

import "phoenix/internal/ca"

func init() { register("ca", serveOnly("ca", caUsage, ca.ServeMain)) }

const caUsage = `usage: phoenix ca serve --ca-config FILE --password-file FILE [--map GUEST=HOST]... [--listen HOST:PORT]

Runs the private CA from its ca.json until interrupted, so that the CA's
container can run phoenix itself as its CA daemon. Run 'phoenix ca serve -h'
for its flags; docs/ca.md describes the CA.
`
