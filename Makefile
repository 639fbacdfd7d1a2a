# The README's two commands. Both install what they need first (idempotent, cached).
.PHONY: install demo test lint

install:
	@bash scripts/install.sh

# Where the demo listens: `make demo PORT=8123 HOST=0.0.0.0`, or BASELINER_PORT and BASELINER_HOST in
# the environment (the command line wins). Only PORT and HOST given to make count: a shell's own
# HOST variable (the machine's name) never reaches the demo.
given = $(filter command line,$(origin $(1)))
DEMO_ADDRESS = $(if $(call given,PORT),--port $(PORT)) $(if $(call given,HOST),--host $(HOST))

demo: install
	.venv/bin/baseliner demo $(DEMO_ADDRESS)

test: install
	@bash scripts/test.sh

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
