# fosim — a FortiOS-style appliance simulator.
GO ?= go

.PHONY: all build run test vet fuzz bench clean

all: build

build:
	$(GO) build -o bin/fosim ./cmd/fosim

# The appliance's CLI on this terminal, with the default data directory
# ($FOSIM_DATA, else ~/.local/state/fosim), created with factory defaults.
# port1 is mapped to 127.0.0.1 and ports below 1024 are offset by 10000, so
# that an ordinary user gets admin SSH on 127.0.0.1:10022 and IKE on UDP
# 10500 and 4500 (FOSIM_RUN_FLAGS replaces these, e.g. with nothing as root).
FOSIM_RUN_FLAGS ?= --map port1=127.0.0.1 --port-offset 10000
run:
	$(GO) run ./cmd/fosim run $(FOSIM_RUN_FLAGS)

# Unit, golden, interop, crash-safety tests and the seed corpus of every fuzz
# target, under the race detector.
test: vet
	$(GO) test -race -count=1 -timeout 14m ./...

vet:
	$(GO) vet ./...

# Longer fuzzing; FUZZTIME per target.
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./grammar -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmdb -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/iked/ike -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/iked -run '^$$' -fuzz '^FuzzResponder$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/iked/ike -run '^$$' -fuzz '^FuzzTCPFrames$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/ftp -run '^$$' -fuzz '^FuzzPassivePort$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/tftp -run '^$$' -fuzz '^FuzzOACK$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/tftp -run '^$$' -fuzz '^FuzzGet$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/samld -run '^$$' -fuzz '^FuzzConsume$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/samld -run '^$$' -fuzz '^FuzzIdPRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./admin/https -run '^$$' -fuzz '^FuzzJSONToEntry$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s
	$(GO) test ./daemons/fcnacd -run '^$$' -fuzz '^FuzzDecodePush$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/fcnacd -run '^$$' -fuzz '^FuzzDecodeEndpoints$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/fcnacd/ztnatoken -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./daemons/iked/fctdata -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)

# Benchmarks (figures go to BENCHMARKS.md).
bench:
	$(GO) test ./cmdb -run '^$$' -bench . -benchtime 1x -timeout 30m
	$(GO) test ./grammar -run '^$$' -bench . -benchtime 10x
	$(GO) test ./daemons/iked -run '^$$' -bench . -benchtime 3s
	$(GO) test ./daemons/samld -run '^$$' -bench ACSLogins -benchtime 3s
	$(GO) test ./peers/idp -run '^$$' -bench . -benchtime 1x
	$(GO) test ./admin/https -run '^$$' -bench 'Create500|Get10000' -benchtime 1x
	$(GO) test ./admin/https -run '^$$' -bench 'Sort10000' -benchtime 10x
	$(GO) test ./admin/https -run '^$$' -bench 'FabricSSO' -benchtime 2s
	$(GO) test ./daemons/fcnacd/... -run '^$$' -bench . -benchtime 1x
	$(GO) test ./clock -run '^$$' -bench . -benchtime 3x

clean:
	rm -rf bin
