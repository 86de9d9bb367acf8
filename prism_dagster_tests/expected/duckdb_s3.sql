-- prism-dagster sql lake --engine duckdb
-- Integration 'lake' (s3): every archived hour under
--   s3://acme-llm-logs/prism/production/logs/
-- Reads only batch_*.jsonl.gz: never _manifest.json or _rejects_*.
-- day (DATE), hour (0-23) and hour_start (TIMESTAMP, UTC) come from each file's
-- path: a filter on them reads only the matching hours' files.
-- Create the view once at least one hour is archived: DuckDB refuses a glob that
-- matches no file.

INSTALL httpfs;
LOAD httpfs;
INSTALL aws;
LOAD aws;

-- No keys in prism.yaml: the AWS credential chain, as the archive uses.
CREATE OR REPLACE SECRET prism_lake (
    TYPE s3,
    PROVIDER credential_chain,
    REGION 'eu-west-1',
    SCOPE 's3://acme-llm-logs/prism/production/'
);

CREATE OR REPLACE VIEW lake_logs AS
SELECT
    "request_id",
    "model",
    "provider",
    "resolved_model",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "status_code",
    "is_stream",
    "is_error",
    "error_message",
    "cache_hit",
    "fallback_used",
    "guardrail_triggered",
    "routing_strategy",
    "timestamp",
    "event_type",
    CAST(strptime(regexp_extract(filename, '/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$', 1), '%Y/%m/%d/hour=%H') AS DATE) AS day,
    CAST(hour(strptime(regexp_extract(filename, '/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$', 1), '%Y/%m/%d/hour=%H')) AS INTEGER) AS hour,
    strptime(regexp_extract(filename, '/(\d{4}/\d{2}/\d{2}/hour=\d{2})/batch_[^/]*\.jsonl\.gz$', 1), '%Y/%m/%d/hour=%H') AS hour_start
FROM read_json(
    's3://acme-llm-logs/prism/production/logs/*/*/*/hour=*/batch_*.jsonl.gz',
    columns = {
        'request_id': 'VARCHAR',
        'model': 'VARCHAR',
        'provider': 'VARCHAR',
        'resolved_model': 'VARCHAR',
        'latency_ms': 'BIGINT',
        'input_tokens': 'BIGINT',
        'output_tokens': 'BIGINT',
        'total_tokens': 'BIGINT',
        'cost': 'DOUBLE',
        'status_code': 'BIGINT',
        'is_stream': 'BOOLEAN',
        'is_error': 'BOOLEAN',
        'error_message': 'VARCHAR',
        'cache_hit': 'BOOLEAN',
        'fallback_used': 'BOOLEAN',
        'guardrail_triggered': 'BOOLEAN',
        'routing_strategy': 'VARCHAR',
        'timestamp': 'VARCHAR',
        'event_type': 'VARCHAR'
    },
    format = 'newline_delimited',
    compression = 'gzip',
    filename = true,
    hive_partitioning = false
);
COMMENT ON COLUMN lake_logs."request_id" IS 'The gateway''s id of the request.';
COMMENT ON COLUMN lake_logs."model" IS 'Model name the caller asked for.';
COMMENT ON COLUMN lake_logs."provider" IS 'LLM provider that served the request (openai, anthropic, ...).';
COMMENT ON COLUMN lake_logs."resolved_model" IS 'Exact model version the provider ran.';
COMMENT ON COLUMN lake_logs."latency_ms" IS 'Time from request to complete response, in milliseconds.';
COMMENT ON COLUMN lake_logs."input_tokens" IS 'Prompt tokens billed.';
COMMENT ON COLUMN lake_logs."output_tokens" IS 'Completion tokens billed.';
COMMENT ON COLUMN lake_logs."total_tokens" IS 'Input plus output tokens.';
COMMENT ON COLUMN lake_logs."cost" IS 'Price of the request in US dollars.';
COMMENT ON COLUMN lake_logs."status_code" IS 'HTTP status the gateway returned.';
COMMENT ON COLUMN lake_logs."is_stream" IS 'Whether the response was streamed.';
COMMENT ON COLUMN lake_logs."is_error" IS 'Whether the request failed.';
COMMENT ON COLUMN lake_logs."error_message" IS 'The error, cut to 500 characters; empty when none.';
COMMENT ON COLUMN lake_logs."cache_hit" IS 'Whether the gateway answered from its cache.';
COMMENT ON COLUMN lake_logs."fallback_used" IS 'Whether routing fell back to another model or provider.';
COMMENT ON COLUMN lake_logs."guardrail_triggered" IS 'Whether a guardrail blocked or changed the request.';
COMMENT ON COLUMN lake_logs."routing_strategy" IS 'The gateway''s routing strategy for the request; empty when none.';
COMMENT ON COLUMN lake_logs."timestamp" IS 'When the request started (else was logged), UTC ISO 8601 with milliseconds.';
COMMENT ON COLUMN lake_logs."event_type" IS 'Always ''request'': one line per LLM request.';
COMMENT ON COLUMN lake_logs."day" IS 'UTC day of the hour the row is archived under (from the file''s path).';
COMMENT ON COLUMN lake_logs."hour" IS 'UTC hour of day, 0-23, the row is archived under (from the file''s path).';
COMMENT ON COLUMN lake_logs."hour_start" IS 'Start of the UTC hour the row is archived under (from the file''s path).';
