-- prism-dagster sql lake --engine athena
-- Integration 'lake' (s3): every archived hour under
--   s3://acme-llm-logs/prism/production/logs/
-- Run the two statements one by one (Athena runs one statement per query).
-- Query the view: WHERE day = '2026/03/31' AND hour = 14 reads that hour's folder
-- only (partition projection; day is text yyyy/MM/dd, ranges compare as text).
-- gzip is read from the .gz extension. Each hour folder also holds _manifest.json and
-- sometimes _rejects_*.jsonl.gz: Athena's engine skips names starting with _ (Hive's
-- hidden files), but AWS documents that a location's files are all read; a rejects
-- line has none of the record's keys and would be a row of NULLs, so the view keeps
-- rows with a request_id (never NULL in an archived record).

CREATE EXTERNAL TABLE IF NOT EXISTS lake_logs_raw (
  `request_id`          string COMMENT 'The gateway\'s id of the request.',
  `model`               string COMMENT 'Model name the caller asked for.',
  `provider`            string COMMENT 'LLM provider that served the request (openai, anthropic, ...).',
  `resolved_model`      string COMMENT 'Exact model version the provider ran.',
  `latency_ms`          bigint COMMENT 'Time from request to complete response, in milliseconds.',
  `input_tokens`        bigint COMMENT 'Prompt tokens billed.',
  `output_tokens`       bigint COMMENT 'Completion tokens billed.',
  `total_tokens`        bigint COMMENT 'Input plus output tokens.',
  `cost`                double COMMENT 'Price of the request in US dollars.',
  `status_code`         bigint COMMENT 'HTTP status the gateway returned.',
  `is_stream`           boolean COMMENT 'Whether the response was streamed.',
  `is_error`            boolean COMMENT 'Whether the request failed.',
  `error_message`       string COMMENT 'The error, cut to 500 characters; empty when none.',
  `cache_hit`           boolean COMMENT 'Whether the gateway answered from its cache.',
  `fallback_used`       boolean COMMENT 'Whether routing fell back to another model or provider.',
  `guardrail_triggered` boolean COMMENT 'Whether a guardrail blocked or changed the request.',
  `routing_strategy`    string COMMENT 'The gateway\'s routing strategy for the request; empty when none.',
  `timestamp`           string COMMENT 'When the request started (else was logged), UTC ISO 8601 with milliseconds.',
  `event_type`          string COMMENT 'Always \'request\': one line per LLM request.'
)
PARTITIONED BY (
  `day` string COMMENT 'UTC day of the hour folder, yyyy/MM/dd',
  `hour` int COMMENT 'UTC hour of day of the hour folder, 0-23'
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://acme-llm-logs/prism/production/logs/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2026/03/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://acme-llm-logs/prism/production/logs/${day}/hour=${hour}/'
);

CREATE OR REPLACE VIEW lake_logs AS
SELECT * FROM lake_logs_raw
WHERE request_id IS NOT NULL;
