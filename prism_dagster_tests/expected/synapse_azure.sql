-- prism-dagster sql lake_azure --engine synapse
-- Integration 'lake_azure' (azure): every archived hour under
--   https://acmellmlogs.blob.core.windows.net/llm-logs/prism/production/logs/
-- Run in a database of the serverless pool (not master). Reads only
-- batch_*.jsonl.gz: never _manifest.json or _rejects_*.
-- [year], [month], [day], [hour] are the path's folders as text ('2026', '03', '31', '14'):
-- filter on them as text, e.g. WHERE [year] = '2026' AND [month] = '03'
-- AND [day] = '31' AND [hour] = '14', and Synapse reads only those folders.
-- Access: with Microsoft Entra passthrough no credential is needed; with a SAS,
-- CREATE DATABASE SCOPED CREDENTIAL (IDENTITY = 'SHARED ACCESS SIGNATURE',
-- SECRET = '<your SAS token>') and an EXTERNAL DATA SOURCE over the container,
-- then give OPENROWSET DATA_SOURCE and a BULK path relative to it.

CREATE OR ALTER VIEW dbo.lake_azure_logs AS
SELECT
    j.[request_id],
    j.[model],
    j.[provider],
    j.[resolved_model],
    j.[latency_ms],
    j.[input_tokens],
    j.[output_tokens],
    j.[total_tokens],
    j.[cost],
    j.[status_code],
    j.[is_stream],
    j.[is_error],
    j.[error_message],
    j.[cache_hit],
    j.[fallback_used],
    j.[guardrail_triggered],
    j.[routing_strategy],
    j.[timestamp],
    j.[event_type],
    r.filepath(1) AS [year],
    r.filepath(2) AS [month],
    r.filepath(3) AS [day],
    r.filepath(4) AS [hour]
FROM OPENROWSET(
    BULK 'https://acmellmlogs.blob.core.windows.net/llm-logs/prism/production/logs/*/*/*/hour=*/batch_*.jsonl.gz',
    FORMAT = 'CSV',
    FIELDTERMINATOR = '0x0b',
    FIELDQUOTE = '0x0b',
    DATA_COMPRESSION = 'GZIP'
) WITH (doc NVARCHAR(MAX)) AS r
CROSS APPLY OPENJSON(r.doc) WITH (
    [request_id]          NVARCHAR(4000) '$.request_id',
    [model]               NVARCHAR(4000) '$.model',
    [provider]            NVARCHAR(4000) '$.provider',
    [resolved_model]      NVARCHAR(4000) '$.resolved_model',
    [latency_ms]          BIGINT '$.latency_ms',
    [input_tokens]        BIGINT '$.input_tokens',
    [output_tokens]       BIGINT '$.output_tokens',
    [total_tokens]        BIGINT '$.total_tokens',
    [cost]                FLOAT '$.cost',
    [status_code]         BIGINT '$.status_code',
    [is_stream]           BIT '$.is_stream',
    [is_error]            BIT '$.is_error',
    [error_message]       NVARCHAR(4000) '$.error_message',
    [cache_hit]           BIT '$.cache_hit',
    [fallback_used]       BIT '$.fallback_used',
    [guardrail_triggered] BIT '$.guardrail_triggered',
    [routing_strategy]    NVARCHAR(4000) '$.routing_strategy',
    [timestamp]           NVARCHAR(4000) '$.timestamp',
    [event_type]          NVARCHAR(4000) '$.event_type'
) AS j;
