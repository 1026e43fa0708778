<#
.SYNOPSIS
Walks through the seed's three examples against a running service and checks every answer:
the PowerShell counterpart of ./demo.sh.

.DESCRIPTION
  1. Metrics in, summary out: the first summary is computed (X-Cache: MISS), the second is
     served from the cache (X-Cache: HIT).
  2. Rate limiting: RATE_LIMIT_REQUESTS requests accepted (201), the next one refused with 429
     and Retry-After.
  3. Circuit breaker: the simulated upstream made to fail (admin API) opens the breaker after
     CIRCUIT_BREAKER_FAILURE_THRESHOLD failures; calls then fail at once (503 CIRCUIT_OPEN); with
     the upstream healthy again the breaker turns HALF_OPEN after CIRCUIT_BREAKER_RESET_TIMEOUT
     seconds and one trial call closes it.

ADMIN_TOKEN comes from the environment or .env (.\start.ps1 writes one there). The demo sets the
upstream's failure rate to 0 while it runs and puts EXTERNAL_SERVICE_FAILURE_RATE /
EXTERNAL_SERVICE_LATENCY_MS back at the end. Each run uses metric types and client addresses
(X-Forwarded-For) of its own. It takes about CIRCUIT_BREAKER_RESET_TIMEOUT + 10 seconds.
Exit code: 0 when every check passed, 1 when one failed, 2 when the demo could not run.

.PARAMETER BaseUrl
The service, default http://127.0.0.1:$APP_PORT (APP_PORT from the environment or .env, else 8000).

.EXAMPLE
.\demo.ps1
.\demo.ps1 http://127.0.0.1:8000
#>
[CmdletBinding()]
param([Parameter(Position = 0)][string]$BaseUrl)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Set-Location -LiteralPath $PSScriptRoot
. (Join-Path $PSScriptRoot 'docker/common.ps1')
Add-Type -AssemblyName System.Net.Http

if (-not $BaseUrl) { $BaseUrl = "http://127.0.0.1:$(Get-DotEnvValue 'APP_PORT' '8000')" }
$BaseUrl = $BaseUrl.TrimEnd('/')
$AdminToken = Get-DotEnvValue 'ADMIN_TOKEN'
$ConfiguredFailureRate = Get-DotEnvValue 'EXTERNAL_SERVICE_FAILURE_RATE' '0.1'
$ConfiguredLatencyMs = Get-DotEnvValue 'EXTERNAL_SERVICE_LATENCY_MS' '0'
$Threshold = [int](Get-DotEnvValue 'CIRCUIT_BREAKER_FAILURE_THRESHOLD' '5')
$Epoch = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
$DemoType = if ($env:DEMO_TYPE) { $env:DEMO_TYPE } else { "cpu_usage_demo_$Epoch" }
$Random = New-Object System.Random
$ClientA = "198.18.$($Random.Next(0, 256)).$($Random.Next(1, 255))"
$ClientB = "198.19.$($Random.Next(0, 256)).$($Random.Next(1, 255))"

$script:Passed = 0
$script:Failed = 0
$script:UpstreamChanged = $false
$script:Last = $null

$handler = New-Object System.Net.Http.HttpClientHandler
$handler.AllowAutoRedirect = $false
$Client = New-Object System.Net.Http.HttpClient($handler)
$Client.Timeout = [TimeSpan]::FromSeconds(15)

# ---------------------------------------------------------------------------------------------
# Output

function Write-Section([string]$Text) { Write-Host ''; Write-Host "== $Text ==" -ForegroundColor White }
function Write-Note([string]$Text) { Write-Host $Text -ForegroundColor DarkGray }
function Pass([string]$Text) {
    $script:Passed++
    Write-Host '  ok    ' -ForegroundColor Green -NoNewline
    Write-Host $Text
}
function Fail([string]$Text) {
    $script:Failed++
    Write-Host '  FAIL  ' -ForegroundColor Red -NoNewline
    Write-Host $Text
}

# ---------------------------------------------------------------------------------------------
# HTTP

# Send-Request METHOD PATH [BODY] [HEADERS]: the request, quietly. Returns and remembers (for the
# Assert-* functions) an object with Status, Body, Headers (lower-case names) and Json.
function Send-Request {
    param([string]$Method, [string]$Path, [string]$Body = '', [hashtable]$Headers = @{})
    $request = New-Object System.Net.Http.HttpRequestMessage(
        (New-Object System.Net.Http.HttpMethod($Method)), "$BaseUrl$Path")
    foreach ($name in $Headers.Keys) {
        [void]$request.Headers.TryAddWithoutValidation($name, [string]$Headers[$name])
    }
    if ($Body) {
        $request.Content = New-Object System.Net.Http.StringContent($Body, [System.Text.Encoding]::UTF8,
            'application/json')
    }
    $result = [pscustomobject]@{ Status = 0; Body = ''; Headers = @{}; Json = $null }
    try {
        $response = $Client.SendAsync($request).GetAwaiter().GetResult()
        $result.Status = [int]$response.StatusCode
        $result.Body = $response.Content.ReadAsStringAsync().GetAwaiter().GetResult()
        foreach ($pair in @($response.Headers) + @($response.Content.Headers)) {
            $result.Headers[$pair.Key.ToLowerInvariant()] = ($pair.Value -join ', ')
        }
        $response.Dispose()
    } catch {
        $inner = $_.Exception
        while ($inner.InnerException) { $inner = $inner.InnerException }
        $result.Body = "(no response: $($inner.Message))"
    } finally {
        $request.Dispose()
    }
    if ($result.Body -match '^\s*[\[{]') {
        try { $result.Json = $result.Body | ConvertFrom-Json } catch { $result.Json = $null }
    }
    $script:Last = $result
    return $result
}

# Invoke-Call METHOD PATH [BODY] [HEADERS]: the request, printed as a curl command line, then the
# status, the headers that matter here, and the body.
function Invoke-Call {
    param([string]$Method, [string]$Path, [string]$Body = '', [hashtable]$Headers = @{})
    $shown = "curl -X $Method '$BaseUrl$Path'"
    foreach ($name in $Headers.Keys) {
        $value = if ($name -eq 'Authorization') { 'Bearer $ADMIN_TOKEN' } else { $Headers[$name] }
        $shown += " -H '${name}: $value'"
    }
    if ($Body) { $shown += " -H 'Content-Type: application/json' -d '$Body'" }
    Write-Host "`$ $shown" -ForegroundColor White
    $r = Send-Request -Method $Method -Path $Path -Body $Body -Headers $Headers
    $extra = @()
    foreach ($name in 'x-cache', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining',
        'x-ratelimit-reset') {
        if ($r.Headers.ContainsKey($name)) { $extra += "${name}: $($r.Headers[$name])" }
    }
    $line = "  HTTP $($r.Status)"
    if ($extra.Count -gt 0) { $line += '  |  ' + ($extra -join '  |  ') }
    Write-Host $line
    Write-Host "  $($r.Body)"
}

function Get-Field([string]$Name) {
    $json = $script:Last.Json
    if ($null -eq $json -or $json -is [array]) { return $null }
    $property = $json.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    return $property.Value
}

function Get-Header([string]$Name) {
    $key = $Name.ToLowerInvariant()
    if ($script:Last.Headers.ContainsKey($key)) { return $script:Last.Headers[$key] }
    return ''
}

function Format-Value($Value) {
    if ($null -eq $Value) { return 'null' }
    if ($Value -is [bool]) { return $Value.ToString().ToLowerInvariant() }
    if ($Value -is [double] -or $Value -is [decimal] -or $Value -is [single]) {
        return ([double]$Value).ToString('R', [Globalization.CultureInfo]::InvariantCulture)
    }
    return [string]$Value
}

# ---------------------------------------------------------------------------------------------
# Checks

function Assert-Status([int]$Expected) {
    if ($script:Last.Status -eq $Expected) { Pass "status $Expected" }
    else { Fail "status $($script:Last.Status), expected $Expected" }
}
function Assert-Header([string]$Name, [string]$Expected) {
    $got = Get-Header $Name
    if ($got -eq $Expected) { Pass "${Name}: $Expected" } else { Fail "${Name}: '$got', expected '$Expected'" }
}
function Assert-Field([string]$Name, [string]$Expected) {
    $got = Format-Value (Get-Field $Name)
    if ($got -eq $Expected) { Pass "$Name = $Expected" } else { Fail "$Name = '$got', expected '$Expected'" }
}
function Assert-Number([string]$Name, [double]$Expected) {
    $got = Get-Field $Name
    if ($null -ne $got -and [math]::Abs([double]$got - $Expected) -lt 1e-9) { Pass "$Name = $(Format-Value $got)" }
    else { Fail "$Name = '$(Format-Value $got)', expected $Expected" }
}
function Assert-RetryAfter([string]$Name) {
    $got = Get-Header $Name
    $n = 0
    if ([int]::TryParse($got, [ref]$n) -and $n -ge 1) { Pass "${Name}: $got" }
    else { Fail "${Name}: '$got', expected whole seconds >= 1" }
}

function Get-Timestamp([long]$EpochSeconds) {
    return [DateTimeOffset]::FromUnixTimeSeconds($EpochSeconds).UtcDateTime.ToString(
        "yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)
}

function Get-BreakerState {
    [void](Send-Request GET '/api/circuit-breaker/status')
    return (Format-Value (Get-Field 'state'))
}

$AdminHeaders = @{ Authorization = "Bearer $AdminToken" }
$Invariant = [Globalization.CultureInfo]::InvariantCulture

function Restore-Upstream {
    if (-not $script:UpstreamChanged) { return }
    $script:UpstreamChanged = $false
    Write-Host ''
    Write-Note "Putting the upstream back as configured (failure_rate $ConfiguredFailureRate, latency_ms $ConfiguredLatencyMs)"
    Invoke-Call PUT '/api/admin/external-service' `
        "{`"failure_rate`": $ConfiguredFailureRate, `"latency_ms`": $ConfiguredLatencyMs}" $AdminHeaders
    Assert-Status 200
}

# ---------------------------------------------------------------------------------------------
# Before the examples

Write-Host "Resilient Analytics API demo against $BaseUrl" -ForegroundColor White
[void](Send-Request GET '/health')
if ($script:Last.Status -ne 200) {
    Write-Host "The service does not answer at $BaseUrl/health ($($script:Last.Status) $($script:Last.Body))." -ForegroundColor Red
    Write-Host 'Start it with .\start.ps1, or pass its URL: .\demo.ps1 URL'
    exit 2
}
if ((Format-Value (Get-Field 'redis_connected')) -ne 'true') {
    Write-Host "The service answers but Redis is not connected: $($script:Last.Body)" -ForegroundColor Red
    exit 2
}
if (-not $AdminToken) {
    Write-Host 'ADMIN_TOKEN is not set (environment or .env).' -ForegroundColor Red
    Write-Host 'Example 3 drives the simulated upstream through PUT /api/admin/external-service, which'
    Write-Host "needs the service's ADMIN_TOKEN: .\start.ps1 writes a generated one into .env."
    exit 2
}

try {
    Write-Section 'Setup: a healthy upstream for a deterministic walk-through'
    Write-Note "The simulated upstream fails EXTERNAL_SERVICE_FAILURE_RATE ($ConfiguredFailureRate) of the calls;"
    Write-Note "the demo sets 0 now and puts $ConfiguredFailureRate back at the end."
    Invoke-Call PUT '/api/admin/external-service' '{"failure_rate": 0, "latency_ms": 0}' $AdminHeaders
    if ($script:Last.Status -eq 401 -or $script:Last.Status -eq 403) {
        Write-Host "The admin API refused the token ($($script:Last.Status)): ADMIN_TOKEN here differs from the service's." -ForegroundColor Red
        exit 2
    }
    Assert-Status 200
    if ($script:Last.Status -ne 200) {
        Write-Host "PUT /api/admin/external-service answered $($script:Last.Status); the demo cannot go on." -ForegroundColor Red
        exit 1
    }
    $script:UpstreamChanged = $true

    # A breaker left open by earlier traffic closes after its reset timeout and one good call.
    $state = Get-BreakerState
    if ($script:Last.Status -ne 200) {
        Write-Host "GET /api/circuit-breaker/status answered $($script:Last.Status) $($script:Last.Body)" -ForegroundColor Red
        exit 1
    }
    if ($state -ne 'CLOSED') {
        Write-Note "The breaker is $state from earlier traffic; waiting for it to close."
        for ($i = 0; $i -lt 120 -and $state -ne 'CLOSED'; $i++) {
            if ($state -eq 'HALF_OPEN') { [void](Send-Request GET "/api/metrics/summary?type=${DemoType}_setup") }
            Start-Sleep -Seconds 1
            $state = Get-BreakerState
        }
        if ($state -ne 'CLOSED') { Write-Host "The breaker did not close (state $state)." -ForegroundColor Red; exit 1 }
    }

    # -----------------------------------------------------------------------------------------
    Write-Section 'Example 1: create metrics and get a summary (cache MISS, then HIT)'
    Write-Note "Metric type $DemoType (new for this run, so nothing is cached yet)."
    $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    Invoke-Call POST '/api/metrics' "{`"timestamp`": `"$(Get-Timestamp ($now - 60))`", `"value`": 60.5, `"type`": `"$DemoType`"}" @{ 'X-Forwarded-For' = $ClientA }
    Assert-Status 201
    Assert-Field 'message' 'Metric received'
    Assert-Field 'type' $DemoType
    Invoke-Call POST '/api/metrics' "{`"timestamp`": `"$(Get-Timestamp $now)`", `"value`": 75.8, `"type`": `"$DemoType`"}" @{ 'X-Forwarded-For' = $ClientA }
    Assert-Status 201

    Write-Host ''
    Write-Note 'First summary: computed (through the circuit breaker and the upstream) and cached.'
    Invoke-Call GET "/api/metrics/summary?type=$DemoType"
    Assert-Status 200
    Assert-Header 'X-Cache' 'MISS'
    Assert-Field 'count' '2'
    Assert-Number 'average_value' 68.15
    Assert-Number 'min_value' 60.5
    Assert-Number 'max_value' 75.8
    Assert-Number 'latest_value' 75.8
    $firstSummary = $script:Last.Body

    Write-Host ''
    Write-Note 'Second summary: served from the cache (CACHE_TTL_SECONDS).'
    Invoke-Call GET "/api/metrics/summary?type=$DemoType"
    Assert-Status 200
    Assert-Header 'X-Cache' 'HIT'
    if ($script:Last.Body -eq $firstSummary) { Pass 'same body as the first answer' } else { Fail 'body differs from the first answer' }

    Write-Host ''
    Invoke-Call GET "/api/metrics/list?type=$DemoType&limit=10"
    Assert-Status 200
    $listed = [regex]::Matches($script:Last.Body, '"type":"' + [regex]::Escape($DemoType) + '"').Count
    if ($listed -eq 2) { Pass 'both metrics listed' } else { Fail "$listed metrics listed, expected 2" }

    Write-Host ''
    Write-Note 'A batch of three in one request, with an Idempotency-Key: sent twice, it is stored once.'
    $stamp = Get-Timestamp $now
    $batch = "[{`"timestamp`": `"$stamp`", `"value`": 61, `"type`": `"$DemoType`"}, {`"timestamp`": `"$stamp`", `"value`": 62, `"type`": `"$DemoType`"}, {`"timestamp`": `"$stamp`", `"value`": 63, `"type`": `"$DemoType`"}]"
    $batchHeaders = @{ 'X-Forwarded-For' = $ClientA; 'Idempotency-Key' = "demo-$DemoType" }
    Invoke-Call POST '/api/metrics/batch' $batch $batchHeaders
    Assert-Status 201
    Assert-Field 'message' 'Metrics received'
    Assert-Field 'count' '3'
    $firstBatch = $script:Last.Body
    Invoke-Call POST '/api/metrics/batch' $batch $batchHeaders
    Assert-Status 201
    if ($script:Last.Body -eq $firstBatch) { Pass 'the repeat answers what the first answered' } else { Fail 'the repeat answered differently' }
    [void](Send-Request GET "/api/metrics/list?type=$DemoType&limit=10")
    $listed = [regex]::Matches($script:Last.Body, '"type":"' + [regex]::Escape($DemoType) + '"').Count
    if ($listed -eq 5) { Pass 'five metrics listed: the batch was stored once' } else { Fail "$listed metrics listed, expected 5" }

    # -----------------------------------------------------------------------------------------
    Write-Section 'Example 2: rate limiting (POST /api/metrics, per client)'
    Write-Note "A fresh client ($ClientB, sent as X-Forwarded-For) posts until it is refused."
    $rlHeaders = @{ 'X-Forwarded-For' = $ClientB }
    function New-RateLimitBody {
        $ts = Get-Timestamp ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds())
        return "{`"timestamp`": `"$ts`", `"value`": 70, `"type`": `"${DemoType}_rl`"}"
    }
    Write-Host "`$ curl -X POST '$BaseUrl/api/metrics' -H 'X-Forwarded-For: $ClientB' -H 'Content-Type: application/json' -d '$(New-RateLimitBody)'   (repeated)" -ForegroundColor White
    $limit = $null
    $firstRemaining = $null
    $accepted = 0
    $refused = $false
    for ($i = 1; $i -le 1001; $i++) {
        $r = Send-Request POST '/api/metrics' (New-RateLimitBody) $rlHeaders
        if ($null -eq $limit) { $limit = Get-Header 'X-RateLimit-Limit' }
        if ($null -eq $firstRemaining) { $firstRemaining = Get-Header 'X-RateLimit-Remaining' }
        $line = '  #{0,-3} HTTP {1}  X-RateLimit-Remaining: {2}' -f $i, $r.Status, (Get-Header 'X-RateLimit-Remaining')
        if ($r.Status -eq 429) { $line += "  Retry-After: $(Get-Header 'Retry-After')" }
        Write-Host $line
        if ($r.Status -eq 201) { $accepted++ }
        elseif ($r.Status -eq 429) { $refused = $true; break }
        else { Fail "request $i answered $($r.Status): $($r.Body)"; break }
        $limitNumber = 0
        if (-not [int]::TryParse($limit, [ref]$limitNumber) -or $i -gt $limitNumber + 1) { break }
    }
    Write-Host "  $($script:Last.Body)"
    $limitNumber = 0
    if (-not [int]::TryParse($limit, [ref]$limitNumber)) {
        Fail 'no X-RateLimit-Limit header (is RATE_LIMIT_ENABLED false?)'
    } elseif (-not $refused) {
        Fail "$accepted requests accepted and none refused; the limit is $limitNumber"
    } else {
        if ($firstRemaining -eq [string]($limitNumber - 1)) {
            if ($accepted -eq $limitNumber) { Pass "$limitNumber requests accepted (201), request $($limitNumber + 1) refused, as the seed says" }
            else { Fail "$accepted requests accepted before the 429, expected $limitNumber" }
        } else {
            # Without a trusted proxy in between, X-Forwarded-For is ignored (API.md).
            Write-Host '  note  ' -ForegroundColor Yellow -NoNewline
            Write-Host "X-Forwarded-For was not believed (TRUSTED_PROXIES), so this client had spent part of its quota before: $accepted accepted, then refused"
            if ($accepted -le $limitNumber) { Pass "refused within the limit of $limitNumber" }
            else { Fail "$accepted accepted, more than the limit of $limitNumber" }
        }
        Assert-Status 429
        Assert-Field 'code' 'RATE_LIMIT_EXCEEDED'
        Assert-RetryAfter 'Retry-After'
        Assert-Header 'X-RateLimit-Remaining' '0'
    }

    # -----------------------------------------------------------------------------------------
    Write-Section 'Example 3: the circuit breaker opens and closes'
    Invoke-Call GET '/api/circuit-breaker/status'
    Assert-Status 200
    Assert-Field 'state' 'CLOSED'

    Write-Host ''
    Write-Note "Make the simulated upstream fail every call (the seed's set_failure_rate(1.0)):"
    Invoke-Call PUT '/api/admin/external-service' '{"failure_rate": 1.0}' $AdminHeaders
    Assert-Status 200
    Assert-Number 'failure_rate' 1

    Write-Host ''
    Write-Note 'Summaries not in the cache call the upstream; each failure counts'
    Write-Note "(CIRCUIT_BREAKER_FAILURE_THRESHOLD = $Threshold, read from the environment / .env):"
    Write-Host "`$ curl '$BaseUrl/api/metrics/summary?type=${DemoType}_probeN'   (a new type each time, so every call misses the cache)" -ForegroundColor White
    $failures = 0
    $state = ''
    for ($i = 1; $i -le $Threshold + 5; $i++) {
        $r = Send-Request GET "/api/metrics/summary?type=${DemoType}_probe$i"
        $code = Format-Value (Get-Field 'code')
        $state = Get-BreakerState
        Write-Host ("  #$i HTTP $($r.Status) $code  -> breaker $state, failure_count " + (Format-Value (Get-Field 'failure_count')))
        if ($code -eq 'EXTERNAL_SERVICE_ERROR') { $failures++ }
        if ($state -eq 'OPEN' -or $code -ne 'EXTERNAL_SERVICE_ERROR') { break }
    }
    if ($state -eq 'OPEN' -and $failures -eq $Threshold) { Pass "OPEN after $Threshold failed calls (503 EXTERNAL_SERVICE_ERROR)" }
    else { Fail "breaker $state after $failures failed calls, expected OPEN after $Threshold" }

    Write-Host ''
    Invoke-Call GET '/api/circuit-breaker/status'
    Assert-Field 'state' 'OPEN'
    $waitSeconds = 0
    if (-not [int]::TryParse((Format-Value (Get-Field 'retry_after_seconds')), [ref]$waitSeconds)) {
        $waitSeconds = [int][double]::Parse((Get-DotEnvValue 'CIRCUIT_BREAKER_RESET_TIMEOUT' '30'), $Invariant)
    }

    Write-Host ''
    Write-Note 'While open, calls fail at once without reaching the upstream:'
    Invoke-Call GET "/api/metrics/summary?type=${DemoType}_while_open"
    Assert-Status 503
    Assert-Field 'code' 'CIRCUIT_OPEN'
    Assert-RetryAfter 'Retry-After'

    Write-Host ''
    Write-Note 'Heal the upstream (the seed resets the failure rate; 0 here so that the trial succeeds):'
    Invoke-Call PUT '/api/admin/external-service' '{"failure_rate": 0}' $AdminHeaders
    Assert-Status 200

    Write-Host ''
    Write-Note "Waiting for the reset timeout (about $waitSeconds s): OPEN -> HALF_OPEN"
    $deadline = (Get-Date).AddSeconds($waitSeconds + 15)
    while ((Get-Date) -lt $deadline) {
        if ((Get-BreakerState) -ne 'OPEN') { break }
        Write-Host '.' -NoNewline
        Start-Sleep -Seconds 1
    }
    Write-Host ''
    Invoke-Call GET '/api/circuit-breaker/status'
    Assert-Field 'state' 'HALF_OPEN'

    Write-Host ''
    Write-Note 'One trial call is let through; it succeeds, so the breaker closes:'
    Invoke-Call GET "/api/metrics/summary?type=$DemoType&period=daily"
    Assert-Status 200
    Assert-Header 'X-Cache' 'MISS'
    Assert-Field 'count' '2'
    Invoke-Call GET '/api/circuit-breaker/status'
    Assert-Field 'state' 'CLOSED'
    Assert-Field 'failure_count' '0'
} finally {
    Restore-Upstream
    $Client.Dispose()
}

# ---------------------------------------------------------------------------------------------
Write-Host ''
if ($script:Failed -eq 0) {
    Write-Host "demo: $($script:Passed) passed, 0 failed: everything as the seed says" -ForegroundColor Green
    exit 0
}
Write-Host "demo: $($script:Passed) passed, $($script:Failed) failed" -ForegroundColor Red
exit 1
