"""What every governance action is made of: the ``Action`` base class, the ``ActionContext`` it acts
through (AWS clients of the target's connected account, with errors turned into ``ActionError``) and
the ``Outcome`` it reports."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from alerts.models import Alert
from connectors import aws
from connectors.aws import ErrorKind
from connectors.models import Connector
from connectors.services import connector_credentials


class ActionError(Exception):
    """An action could not be done. ``permanent`` errors (access denied, no such bucket or user) fail
    the run at once; others (throttling, network, AWS server errors) are retried with backoff."""

    def __init__(self, message: str, *, permanent: bool, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code  # AWS's or Graph's error code, when there is one


@dataclass
class Outcome:
    """What an action changed, in words; ``state`` is what it replaced (kept for revert)."""

    summary: str
    state: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""


class ActionContext:
    """One run's view of its target: the connector, the target, the parameters, and AWS calls that
    remember their request IDs and raise ``ActionError`` in words an administrator can act on."""

    def __init__(
        self, *, connector: Connector, target: str, parameters: dict[str, Any], alert: Alert | None = None
    ) -> None:
        self.connector = connector
        self.alert = alert
        self.target = target
        self.parameters = parameters
        self.request_ids: list[str] = []
        self._clients: dict[str, Any] = {}
        self._session = None

    def client(self, service: str):
        if service not in self._clients:
            credentials = connector_credentials(self.connector)
            if self._session is None:
                self._session = self._guard(
                    "sts:AssumeRole",
                    lambda: aws.session(credentials, endpoint_url=self.connector.endpoint_url),
                )
            self._clients[service] = aws.client(
                service,
                credentials,
                endpoint_url=self.connector.endpoint_url,
                boto_session=self._session,
                # The run itself is retried with backoff; inside one attempt stay short.
                retry_mode="standard",
                max_attempts=3,
                read_timeout=20,
            )
        return self._clients[service]

    def call(self, service: str, operation: str, *, permission: str, **params) -> dict:
        """``client(service).<operation>(**params)``; its request ID is recorded."""
        method = getattr(self.client(service), operation)
        response = self._guard(permission, lambda: method(**params))
        request_id = (response or {}).get("ResponseMetadata", {}).get("RequestId", "")
        if request_id:
            self.request_ids.append(request_id)
        return response

    def _guard(self, permission: str, call):
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            raise aws_action_error(aws.classify(error), permission=permission) from error


def aws_action_error(failure: aws.AwsFailure, *, permission: str) -> ActionError:
    """Plain words for an AWS failure; only throttling, network and server errors are retried."""
    said = f"AWS said: {failure}"
    if failure.kind == ErrorKind.ACCESS_DENIED:
        message = (
            f"Access denied: the connected account's credentials are not allowed {permission}. "
            f"Grant it to the portal's IAM user or role, then retry. {said}"
        )
    elif failure.kind == ErrorKind.NOT_FOUND:
        message = f"Not found: {NOT_FOUND_WORDS.get(failure.code, 'the target does not exist')}. {said}"
    elif failure.kind in {ErrorKind.INVALID_CREDENTIALS, ErrorKind.EXPIRED}:
        message = (
            "The connected account's credentials were refused: update them in Settings > Connected apps. "
            f"{said}"
        )
    elif failure.transient:
        message = f"AWS could not be reached or throttled the call; it will be tried again. {said}"
    else:
        message = f"AWS refused the change. {said}"
    return ActionError(message, permanent=not failure.transient, code=failure.code)


NOT_FOUND_WORDS = {
    "NoSuchBucket": "the bucket no longer exists",
    "NoSuchEntity": "the IAM user (or what was to change on it) no longer exists",
}


class Action(ABC):
    """A governance action. Subclasses set the class attributes and implement ``execute`` (and
    ``revert`` when ``revertible``); they are registered with ``@register_action``."""

    key: ClassVar[str]
    label: ClassVar[str]
    target_type: ClassVar[str]  # GovernanceRun.TargetType: "bucket" or "user"
    revertible: ClassVar[bool] = False
    permissions: ClassVar[tuple[str, ...]] = ()  # AWS (and Microsoft Graph) permissions it needs
    icon: ClassVar[str] = "shield_task"
    parameter_names: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def describe(self, *, target: str, parameters: dict[str, Any]) -> str:
        """Exactly what will change, for the confirmation dialog."""

    def clean_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters this action takes, checked (ValueError with the reason when wrong)."""
        return {name: parameters[name] for name in self.parameter_names if parameters.get(name)}

    @abstractmethod
    def execute(self, context: ActionContext) -> Outcome:
        """Do it; raise ``ActionError`` when it cannot be done."""

    def can_revert(self, state: dict[str, Any]) -> bool:
        """Whether a run that produced ``state`` can be reverted."""
        return self.revertible

    def revert(self, context: ActionContext, state: dict[str, Any]) -> Outcome:
        raise ActionError(f"{self.label} cannot be reverted.", permanent=True)
