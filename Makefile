# Two commands for a newcomer:  `make run` (the main job) and `make test` (the tests).
# Both set up .venv first; the first set-up builds llama-cpp-python (~7 min on 2 cores).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev,service,ray,parquet]'
	touch $(STAMP)

# The main job: extract the shipped fixtures offline with the embedded model (no API key
# needed; with OPENROUTER_API_KEY set it uses Mistral Medium 3.1 instead). Exit code 1
# (some documents failed) is a result, not a breakage; 2 or a crash is.
run: $(STAMP)
	$(BIN)/extractor extract fixtures/invoice.pdf fixtures/multipage.pdf fixtures/scan.png fixtures/scan.pdf \
		--schema invoice -o out/invoices.jsonl || [ $$? -eq 1 ]
	$(BIN)/extractor extract fixtures/receipt.jpg --schema receipt -o out/receipts.jsonl || [ $$? -eq 1 ]
	$(BIN)/extractor extract fixtures/form.pdf --schema form -o out/forms.jsonl || [ $$? -eq 1 ]
	$(BIN)/extractor eval out/invoices.jsonl --truth fixtures/expected --skip-missing

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out
