"""Validation runs against a service's staging deployment, their results, and the staging
profile each run is built from."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.models import ChecklistTemplate, Service, Team


class ValidationRun(models.Model):
    """One execution of a set of checks against one service.

    State machine::

        queued ──(worker claims it)──► running ──► passed   (no fail, no error)
           │                              │    ├─► failed   (at least one fail)
           │                              │    └─► error    (errors but no fail)
           │                              ├─(stuck past the deadline; sweeper)─► error
           │                              ├─(lease expired: worker lost; sweeper re-sends,
           │                              │  the next execution takes over)─► running
           │                              └─(lost its worker PREFLIGHT_RUN_MAX_EXECUTIONS
           │                                 times; sweeper)─► error
           └─(the broker refused it N times; sweeper)─► error

    Exactly one execution owns a run: claiming it is one conditional UPDATE (queued, or
    running with an expired lease -> running with a fresh ``claim_token``), so a duplicate
    message loses the claim, acknowledges and exits. The owner renews ``heartbeat_at`` every
    quarter of ``PREFLIGHT_RUN_LEASE_S``; a run whose lease expired lost its worker (kill -9,
    OOM) and the sweeper sends it again: the next execution takes it over and resumes it
    (checks that already have a result are not run again, so results are never duplicated).
    A queued run whose message never reached the broker is dispatched again by the sweeper;
    one whose message is still in the broker's queue is left to wait (never given up), and
    one whose message vanished from the broker is sent again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Started by a person"
        SCHEDULE = "schedule", "Schedule"
        RERUN = "rerun", "Re-run of a check"
        API = "api", "API"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR)

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    steps = models.JSONField(default=list, blank=True)
    keys = models.JSONField(default=list)
    # True when the run was asked for every check (no steps, no keys chosen).
    complete_selection = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    # When the broker last accepted a message for this run (None: it never did).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    # The execution that owns the run (checks.services.runs.claim): its token, when it took
    # the run, its last heartbeat (the lease), and how many executions have claimed it.
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    executions = models.PositiveSmallIntegerField(default=0)
    # host:port of the profile's base URL when requested: the per-host cap counts these.
    target_host = models.CharField(max_length=300, blank=True, default="")
    # What the run covered, counted as each result lands (checks.services.runs._Results):
    # a "passed" run with skips verified less than it claims, and its verdict says so.
    pass_count = models.PositiveIntegerField(default=0)
    fail_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    skip_count = models.PositiveIntegerField(default=0)
    # Of the skips, those for a missing profile setting (evidence key ``setting``): "not
    # configured", as opposed to "not applicable" to this service.
    unconfigured_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["service", "-id"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["target_host", "status"]),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.service} ({self.status})"

    @property
    def trigger_label(self) -> str:
        """Who or what started the run, in words: "Started by lead", "Schedule", "API"."""
        who = self.triggered_by.get_username() if self.triggered_by is not None else ""
        if self.trigger == self.Trigger.MANUAL and who:
            return f"Started by {who}"
        label = str(self.get_trigger_display())
        return f"{label} by {who}" if who else label

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def full(self) -> bool:
        """Covers every registered check (a full validation), as opposed to a run of some
        steps, of chosen keys, or a re-run of one check."""
        return self.complete_selection and self.trigger != self.Trigger.RERUN

    @property
    def counts(self) -> dict[str, int]:
        """passed / failed / skipped / errored, and how many results there are so far."""
        return {
            "passed": self.pass_count,
            "failed": self.fail_count,
            "skipped": self.skip_count,
            "errored": self.error_count,
            "not_configured": self.unconfigured_count,
            "total": self.pass_count + self.fail_count + self.skip_count + self.error_count,
        }

    @property
    def verdict(self) -> str:
        """The run's status in words, saying what it did not verify: "passed, 18 skipped:
        not configured", "failed: 2 failed, 1 errored, 14 passed, 18 skipped (...)"."""
        skipped = self._skipped_words()
        if self.status in (self.Status.QUEUED, self.Status.RUNNING):
            so_far = self._tally(with_skips=True)
            return f"{self.status}" + (f": {so_far} so far" if so_far else "")
        if self.status == self.Status.PASSED:
            if not self.pass_count and self.skip_count:
                return f"nothing verified: {skipped}"
            if not self.pass_count:
                return "passed: no check ran" + (f" ({self.message})" if self.message else "")
            return "passed" + (f", {skipped}" if skipped else f": {self.pass_count} checks")
        tally = self._tally(with_skips=False)
        words = f"{self.status}: {tally}" if tally else str(self.status)
        if skipped:
            words += f", {skipped}"
        if self.message and not tally:
            words += f" ({self.message})"
        return words

    def _tally(self, *, with_skips: bool) -> str:
        parts = [
            (self.fail_count, "failed"),
            (self.error_count, "errored"),
            (self.pass_count, "passed"),
        ]
        if with_skips:
            parts.append((self.skip_count, "skipped"))
        return ", ".join(f"{n} {word}" for n, word in parts if n)

    def _skipped_words(self) -> str:
        if not self.skip_count:
            return ""
        unconfigured = self.unconfigured_count
        other = self.skip_count - unconfigured
        if not other:
            return f"{self.skip_count} skipped: not configured"
        if not unconfigured:
            return f"{self.skip_count} skipped: not applicable"
        return f"{self.skip_count} skipped ({unconfigured} not configured, {other} not applicable)"


class CheckResult(models.Model):
    class Status(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        ERROR = "error", "Error"
        SKIP = "skip", "Skip"

    run = models.ForeignKey(ValidationRun, on_delete=models.CASCADE, related_name="results")
    key = models.CharField(max_length=100)
    status = models.CharField(max_length=5, choices=Status.choices)
    summary = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A re-delivered task message can never record the same check twice.
            models.UniqueConstraint(fields=["run", "key"], name="result_unique_run_key")
        ]
        indexes = [models.Index(fields=["key", "status"])]

    def __str__(self) -> str:
        return f"{self.key}: {self.status}"


class StagingProfile(models.Model):
    """A service's staging profile: the non-secret part as TOML text (docs/profile.md) and
    the secrets (probe password, OTP secret, ...) encrypted at rest (checks.secrets). The
    profile the engine sees is assembled in checks.services.profiles, in the worker, by id."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="profile")
    toml = models.TextField()
    secrets = models.JSONField(default=dict, blank=True)  # name -> Fernet token
    schedule_enabled = models.BooleanField(default=True)
    schedule_cron = models.CharField(max_length=100, default="0 2 * * *")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.service}"

    @property
    def secret_names(self) -> list[str]:
        return sorted(self.secrets)


class DiscoveryJob(models.Model):
    """A team lead's "add a service from its staging URL": the service to create, the
    discovery of its profile on the worker (checks.engine.discover), and the draft the lead
    reviews and saves. The probe's secrets are encrypted at rest (checks.secrets) and dropped
    when the job is saved or expires.

    State machine::

        queued ──(worker claims it)──► running ──► drafted  (a draft; its login confirmed, or
           ▲ │                            │                  no credentials were given)
           │ │                            ├─► failed   (reason: unreachable, no_document,
           │ │                            │             refused, login_failed [draft kept], error)
           │ │                            └─(stuck past the deadline; sweeper)─► failed (stuck)
           │ └─(never dispatched after N attempts; sweeper)─► failed (not_started)
           └──────(retry, maybe with a corrected URL or credentials)── drafted | failed
        failed ──(a blank profile instead)──► drafted
        drafted | failed ──(save: service + profile + secrets, one transaction)──► saved
        drafted | failed ──(left alone past the keep window; sweeper)──► expired

    A queued job whose message was lost is dispatched again by the sweeper. A re-delivered
    message for a running job runs discovery again (it only reads the service and logs in
    once); only the first finish is kept.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Discovering"
        DRAFTED = "drafted", "Draft ready"
        FAILED = "failed", "Failed"
        SAVED = "saved", "Saved"
        EXPIRED = "expired", "Expired"

    class Reason(models.TextChoices):
        NONE = "", "—"
        UNREACHABLE = "unreachable", "The service cannot be reached"
        NO_DOCUMENT = "no_document", "No OpenAPI document"
        REFUSED = "refused", "Destination refused by the outbound policy"
        LOGIN_FAILED = "login_failed", "Login failed"
        STUCK = "stuck", "Stuck (worker lost?)"
        NOT_STARTED = "not_started", "Never started"
        ERROR = "error", "Unexpected error"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)
    OPEN = (Status.DRAFTED, Status.FAILED)  # waiting for the lead: save, retry or blank

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="discoveries")
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    tier = models.PositiveSmallIntegerField(choices=Service.Tier.choices)
    lifecycle = models.CharField(max_length=20, choices=Service.Lifecycle.choices)
    base_url = models.URLField(max_length=500)
    openapi_url = models.URLField(max_length=500, blank=True)
    username = models.CharField(max_length=200, blank=True)
    secrets = models.JSONField(default=dict, blank=True)  # name -> Fernet token
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True, default="")
    message = models.TextField(blank=True)  # why it failed, scrubbed of the secrets
    stage = models.CharField(max_length=100, blank=True)  # what the worker is doing now
    draft = models.JSONField(default=dict, blank=True)  # checks.engine.draft.Draft.to_data()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "finished_at"])]

    def __str__(self) -> str:
        return f"discovery #{self.pk} of {self.base_url} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in self.UNFINISHED
