# Two commands do all set-up on a fresh machine: `make run` and `make test`. Each installs what it needs.
UV_VERSION := 0.13.9
UV := python3 -m uv
DBT := $(UV) run dbt
DBT_FLAGS := --project-dir dbt_project --profiles-dir dbt_project
DAGSTER := $(UV) run dagster
SOURCE ?= synthetic
DEV_PORT ?= 3000
export RECS_DATA_DIR ?= $(CURDIR)/data/$(SOURCE)
export DAGSTER_HOME ?= $(RECS_DATA_DIR)/dagster_home

.PHONY: install manifest run next-week test dev serve bench bench-e2e bench-api clean

install:  ## uv from PyPI, then the locked environment
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --quiet

DBT_SOURCES := $(shell find dbt_project \( -name '*.sql' -o -name '*.yml' \) -not -path '*/target/*' -not -path '*/logs/*')

manifest: install dbt_project/target/manifest.json  ## dbt's manifest, which the Dagster definitions read

dbt_project/target/manifest.json: $(DBT_SOURCES) | install  # parsed again only when a dbt file changed
	$(DBT) parse $(DBT_FLAGS) --quiet

run: manifest  ## the whole graph on the embedded defaults, one line per stage (SOURCE=complete_journey: real data)
	RECS_EXECUTOR=$${RECS_EXECUTOR:-in_process} $(UV) run python -m recs_assets.pipeline --config configs/$(SOURCE).yaml
	$(UV) run python -m recs_assets.summary

next-week: manifest  ## after make run: land the next synthetic week, then score the live list on it (backtest)
	$(UV) run python -m recs_assets.next_week --config configs/$(SOURCE).yaml

test: manifest  ## the whole test suite
	$(UV) run pytest

dev: manifest  ## the Dagster UI + daemon (sensors, schedule, automation) on http://127.0.0.1:3000
	@mkdir -p "$(DAGSTER_HOME)" "$(RECS_DATA_DIR)/landing" && cp deploy/dagster.local.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(UV) run python -m recs_assets.dev -w workspace.yaml -p $(DEV_PORT)

serve: install  ## the HTTP API on http://127.0.0.1:8000 over this SOURCE's cache (after make run)
	@$(UV) run python -m recs_service.ready
	$(UV) run python -m recs_service.serve --host 127.0.0.1 --port 8000 --workers $${WORKERS:-1}

bench: manifest  ## benchmarks: raw data + marts, training, serving, the multi-stage quality run, a week's backtest at scale 1.0
	$(UV) run python -m benchmarks.run
	$(UV) run python -m benchmarks.training
	$(UV) run python -m benchmarks.serving
	$(UV) run python -m benchmarks.ranking
	$(UV) run python -m benchmarks.backtest

bench-api: install  ## the API at about 1,000 req/s from wrk while a new version is published (needs wrk)
	$(UV) run python -m benchmarks.api_load

SCALE ?= 0.01
bench-e2e: manifest  ## the whole graph at SCALE (synthetic) in a fresh folder: time and peak RSS per step
	$(UV) run python -m benchmarks.end_to_end --scale $(SCALE)

clean:
	rm -rf data dbt_project/target dbt_project/logs
