# The README's two commands. Both install what they need first (idempotent, cached).
.PHONY: install demo test lint

install:
	@bash scripts/install.sh

demo: install
	.venv/bin/baseliner demo

test: install
	@bash scripts/test.sh

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
