<#
.SYNOPSIS
Stops and removes what .\start.ps1 started (the counterpart of ./stop.sh --docker).

.DESCRIPTION
The app gets SIGTERM, drains its requests and exits 0; the containers and the network are
removed. The Redis data volume is kept; pass -RemoveData to delete it too (docker compose down -v).

.EXAMPLE
.\stop.ps1
.\stop.ps1 -RemoveData
#>
[CmdletBinding()]
param([switch]$RemoveData)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Set-Location -LiteralPath $PSScriptRoot
. (Join-Path $PSScriptRoot 'docker/common.ps1')

Assert-DockerReady
if ($RemoveData) {
    Invoke-Compose @('down', '-v')
    Write-Host 'stop.ps1: stopped; the Redis data volume is removed'
} else {
    Invoke-Compose @('down')
    Write-Host 'stop.ps1: stopped; the Redis data volume (redis-data) is kept: .\stop.ps1 -RemoveData removes it'
}
