<#
.SYNOPSIS
Starts the Resilient Analytics API and Redis in Docker (docker-compose.yml): the Windows
counterpart of ./start.sh --docker.

.DESCRIPTION
Builds the image, starts the redis and app containers, waits for both health checks and for
GET /ready, and prints where the service is. When no ADMIN_TOKEN is set (environment or .env) it
writes a generated one into .env (created from .env.example when absent), so that the admin API
and .\demo.ps1 work. Stop it with .\stop.ps1 (the Redis data volume is kept).

Needs Docker Desktop (or any Docker engine with compose). If scripts are blocked:
    powershell -ExecutionPolicy Bypass -File .\start.ps1

.EXAMPLE
.\start.ps1
.\demo.ps1
#>
[CmdletBinding()]
param()

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Set-Location -LiteralPath $PSScriptRoot
. (Join-Path $PSScriptRoot 'docker/common.ps1')

# .env is read by docker-compose (python-dotenv / compose-go): UTF-8 without a byte order mark.
$utf8 = New-Object System.Text.UTF8Encoding($false)

function Set-AdminToken {
    if (Get-DotEnvValue 'ADMIN_TOKEN') { return }
    $envPath = Join-Path $PSScriptRoot '.env'
    if (-not (Test-Path -LiteralPath $envPath)) {
        $example = [System.IO.File]::ReadAllText((Join-Path $PSScriptRoot '.env.example'))
        [System.IO.File]::WriteAllText($envPath, $example, $utf8)
        Write-Host 'start.ps1: created .env from .env.example'
    }
    $bytes = New-Object byte[] 24
    $rng = [System.Security.Cryptography.RandomNumberGenerator]::Create()
    $rng.GetBytes($bytes)
    $rng.Dispose()
    $token = -join ($bytes | ForEach-Object { $_.ToString('x2') })

    $text = [System.IO.File]::ReadAllText($envPath)
    $pattern = '(?m)^[ \t]*(export[ \t]+)?ADMIN_TOKEN=.*$'
    if ($text -match $pattern) {
        $text = [regex]::Replace($text, $pattern, "ADMIN_TOKEN=$token")
    } else {
        if ($text.Length -gt 0 -and -not $text.EndsWith("`n")) { $text += "`n" }
        $text += "ADMIN_TOKEN=$token`n"
    }
    [System.IO.File]::WriteAllText($envPath, $text, $utf8)
    Write-Host 'start.ps1: generated ADMIN_TOKEN into .env (the admin API and .\demo.ps1 use it)'
}

Assert-DockerReady
Set-AdminToken

Invoke-Compose @('up', '-d', '--build')
Write-Host 'start.ps1: waiting for the health checks of redis and app'
Wait-Healthy -Service redis -TimeoutSeconds 60
Wait-Healthy -Service app -TimeoutSeconds 90

$port = Get-DotEnvValue 'APP_PORT' '8000'
$address = Get-DotEnvValue 'PUBLISH_ADDRESS' '127.0.0.1'
if ($address -eq '0.0.0.0') { $address = '127.0.0.1' }
$base = "http://${address}:$port"

$ready = $null
for ($i = 0; $i -lt 100 -and -not $ready; $i++) {
    try {
        $ready = Invoke-RestMethod -Uri "$base/ready" -TimeoutSec 5 -UseBasicParsing
    } catch {
        Start-Sleep -Milliseconds 200
    }
}
if (-not $ready) {
    throw "The containers are healthy but $base/ready does not answer 200 (docker compose logs app)"
}

Write-Host ''
Write-Host 'analytics-api is running in Docker (docker compose ps shows both containers)'
Write-Host "  health:  Invoke-RestMethod $base/health"
Write-Host "  API:     $base/api/metrics"
Write-Host "  demo:    .\demo.ps1 $base"
Write-Host '  logs:    docker compose logs -f app'
Write-Host '  stop:    .\stop.ps1'
Write-Host ($ready | ConvertTo-Json -Compress)
