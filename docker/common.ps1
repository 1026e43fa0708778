# Helpers shared by start.ps1, stop.ps1 and demo.ps1 (Windows PowerShell 5.1 and PowerShell 7).
# Dot-source it from the repository root; do not run it.

# Get-DotEnvValue NAME DEFAULT: the variable from the environment, else from .env (KEY=VALUE
# lines as docker-compose reads them), else DEFAULT. An empty value counts as unset.
function Get-DotEnvValue {
    param([Parameter(Mandatory)][string]$Name, [string]$Default = '')
    $fromEnv = [Environment]::GetEnvironmentVariable($Name)
    if ($fromEnv) { return $fromEnv }
    if (Test-Path -LiteralPath '.env') {
        $value = $null
        foreach ($line in Get-Content -LiteralPath '.env') {
            if ($line -match ('^\s*(export\s+)?' + [regex]::Escape($Name) + '\s*=(.*)$')) {
                $value = $Matches[2].Trim()
            }
        }
        if ($null -ne $value) {
            if ($value -match '^"(.*)"\s*(#.*)?$' -or $value -match "^'(.*)'\s*(#.*)?$") {
                $value = $Matches[1]
            } else {
                $value = ($value -replace '\s+#.*$', '').Trim()
            }
            if ($value) { return $value }
        }
    }
    return $Default
}

# Native commands run with $ErrorActionPreference = 'Continue': Windows PowerShell 5.1 turns a
# native command's stderr into terminating errors under 'Stop' as soon as it is redirected.

# Invoke-NativeQuiet FILE ARGS...: runs it with all output discarded; returns the exit code.
function Invoke-NativeQuiet {
    param([Parameter(Mandatory)][string]$FilePath, [string[]]$ArgumentList = @())
    $eap = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        & $FilePath @ArgumentList *> $null
        return $LASTEXITCODE
    } catch {
        return 1
    } finally {
        $ErrorActionPreference = $eap
    }
}

# Invoke-NativeCapture FILE ARGS...: its standard output as one trimmed string (stderr dropped).
function Invoke-NativeCapture {
    param([Parameter(Mandatory)][string]$FilePath, [string[]]$ArgumentList = @())
    $eap = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $out = & $FilePath @ArgumentList 2> $null
        return (($out | Out-String).Trim())
    } finally {
        $ErrorActionPreference = $eap
    }
}

# The compose command: `docker compose` (v2, Docker Desktop) or the standalone docker-compose.
function Get-ComposeCommand {
    if ((Invoke-NativeQuiet docker @('compose', 'version')) -eq 0) { return @('docker', 'compose') }
    if (Get-Command docker-compose -ErrorAction SilentlyContinue) { return @('docker-compose') }
    throw "Neither 'docker compose' nor docker-compose is available: install Docker Desktop."
}

# Invoke-Compose @('up', '-d'): compose with its output on the console; throws when it fails.
# The arguments come as one array, so that PowerShell never takes '-d' for a parameter of its own.
function Invoke-Compose {
    param([Parameter(Mandatory)][string[]]$Rest)
    $cmd = Get-ComposeCommand
    $exe = $cmd[0]
    $all = @($cmd | Select-Object -Skip 1) + @($Rest)
    $eap = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        & $exe @all | Out-Host
        $code = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $eap
    }
    if ($code -ne 0) { throw "'$($cmd -join ' ') $($Rest -join ' ')' failed with exit code $code" }
}

# Get-ComposeContainerId SERVICE: the id of the service's container, or '' when none.
function Get-ComposeContainerId {
    param([Parameter(Mandatory)][string]$Service)
    $cmd = Get-ComposeCommand
    $all = @($cmd | Select-Object -Skip 1) + @('ps', '-q', $Service)
    return (Invoke-NativeCapture $cmd[0] $all)
}

# Assert-DockerReady: throws with a helpful message unless a Docker engine answers.
function Assert-DockerReady {
    if (-not (Get-Command docker -ErrorAction SilentlyContinue)) {
        throw 'docker is not installed: install Docker Desktop (https://docs.docker.com/desktop/).'
    }
    if ((Invoke-NativeQuiet docker @('info')) -ne 0) {
        throw 'The Docker engine does not answer: start Docker Desktop and try again.'
    }
    [void](Get-ComposeCommand)
}

# Wait-Healthy SERVICE SECONDS: waits for the container's health check to report "healthy".
function Wait-Healthy {
    param([Parameter(Mandatory)][string]$Service, [int]$TimeoutSeconds = 90)
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    $state = 'not created'
    $health = 'unknown'
    while ($true) {
        $id = Get-ComposeContainerId $Service
        if ($id) {
            $state = Invoke-NativeCapture docker @('inspect', '-f', '{{.State.Status}}', $id)
            $health = Invoke-NativeCapture docker @('inspect', '-f',
                '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', $id)
            if ($health -eq 'healthy') { return }
            if ($state -eq 'exited' -or $state -eq 'dead' -or $health -eq 'unhealthy') {
                Write-Host (Invoke-NativeCapture docker @('logs', '--tail', '20', $id))
                throw "$Service is $state/$health"
            }
        }
        if ((Get-Date) -gt $deadline) {
            throw "$Service did not turn healthy within $TimeoutSeconds s (state $state, health $health)"
        }
        Start-Sleep -Seconds 1
    }
}
