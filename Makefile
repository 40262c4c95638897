# The test command (README): installs what the tests need, then runs every test.
GO ?= go
DEBIAN_PACKAGES := dnsmasq nftables nginx iproute2 jq curl tmux dnsutils util-linux procps zsh fish python3-proxmoxer

.PHONY: test deps build sim vet

test: deps vet
	$(GO) test -count=1 ./...

# Installs only what is missing, so a prepared machine does not hit apt.
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

build:
	$(GO) build -buildvcs=auto -o phoenix .

# The main job on the embedded simulator.
sim: build
	./phoenix exec --sim scripts/lxc_103.star
