-- prism-dagster sql lake_gcs --engine bigquery
-- Integration 'lake_gcs' (gcs): every archived hour under
--   gs://acme-llm-logs-gcs/prism/production/logs/
-- Run in the dataset that should hold them (bq query --dataset_id=DATASET), or
-- qualify the two names. Query the view: rows of _rejects_* files are left out.
-- No file pruning with this layout: BigQuery's hive partitioning needs key=value
-- folders and YYYY/MM/DD are not; day, hour and hour_start come from _FILE_NAME,
-- so a filter on them filters rows, but every batch file is still read.

CREATE OR REPLACE EXTERNAL TABLE lake_gcs_logs_raw (
  request_id          STRING OPTIONS (description = 'The gateway\'s id of the request.'),
  model               STRING OPTIONS (description = 'Model name the caller asked for.'),
  provider            STRING OPTIONS (description = 'LLM provider that served the request (openai, anthropic, ...).'),
  resolved_model      STRING OPTIONS (description = 'Exact model version the provider ran.'),
  latency_ms          INT64 OPTIONS (description = 'Time from request to complete response, in milliseconds.'),
  input_tokens        INT64 OPTIONS (description = 'Prompt tokens billed.'),
  output_tokens       INT64 OPTIONS (description = 'Completion tokens billed.'),
  total_tokens        INT64 OPTIONS (description = 'Input plus output tokens.'),
  cost                FLOAT64 OPTIONS (description = 'Price of the request in US dollars.'),
  status_code         INT64 OPTIONS (description = 'HTTP status the gateway returned.'),
  is_stream           BOOL OPTIONS (description = 'Whether the response was streamed.'),
  is_error            BOOL OPTIONS (description = 'Whether the request failed.'),
  error_message       STRING OPTIONS (description = 'The error, cut to 500 characters; empty when none.'),
  cache_hit           BOOL OPTIONS (description = 'Whether the gateway answered from its cache.'),
  fallback_used       BOOL OPTIONS (description = 'Whether routing fell back to another model or provider.'),
  guardrail_triggered BOOL OPTIONS (description = 'Whether a guardrail blocked or changed the request.'),
  routing_strategy    STRING OPTIONS (description = 'The gateway\'s routing strategy for the request; empty when none.'),
  timestamp           STRING OPTIONS (description = 'When the request started (else was logged), UTC ISO 8601 with milliseconds.'),
  event_type          STRING OPTIONS (description = 'Always \'request\': one line per LLM request.')
)
OPTIONS (
  format = 'NEWLINE_DELIMITED_JSON',
  compression = 'GZIP',
  uris = ['gs://acme-llm-logs-gcs/prism/production/logs/*.jsonl.gz'],
  ignore_unknown_values = true
);

CREATE OR REPLACE VIEW lake_gcs_logs AS
SELECT
  request_id,
  model,
  provider,
  resolved_model,
  latency_ms,
  input_tokens,
  output_tokens,
  total_tokens,
  cost,
  status_code,
  is_stream,
  is_error,
  error_message,
  cache_hit,
  fallback_used,
  guardrail_triggered,
  routing_strategy,
  timestamp,
  event_type,
  DATE(PARSE_TIMESTAMP('%Y/%m/%d/hour=%H', REGEXP_EXTRACT(_FILE_NAME, r'/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$'))) AS day,
  EXTRACT(HOUR FROM PARSE_TIMESTAMP('%Y/%m/%d/hour=%H', REGEXP_EXTRACT(_FILE_NAME, r'/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$'))) AS hour,
  PARSE_TIMESTAMP('%Y/%m/%d/hour=%H', REGEXP_EXTRACT(_FILE_NAME, r'/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$')) AS hour_start
FROM lake_gcs_logs_raw
WHERE REGEXP_CONTAINS(_FILE_NAME, r'/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$');
