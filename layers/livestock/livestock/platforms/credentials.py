"""A channel's platform credentials, read from Secrets Manager or SSM (SecureString) with
Powertools parameters, cached per function instance. The reference is all the table keeps; the
secret itself never reaches the table, an answer or a log line (PlatformCredentials hides its repr)."""

from dataclasses import dataclass

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from pydantic import ValidationError

from livestock.models.exceptions import CredentialsUnavailable
from livestock.platforms.adapters import PlatformCredentials


@dataclass(frozen=True)
class ParameterCredentials:
    max_age_s: int = 300

    def get(self, ref: str) -> PlatformCredentials:
        kind, _, name = ref.partition(":")
        try:
            if kind == "secretsmanager":
                raw = parameters.get_secret(name, max_age=self.max_age_s)
            elif kind == "ssm":
                raw = parameters.get_parameter(name, decrypt=True, max_age=self.max_age_s)
            else:
                raise ValueError(f"unknown credentials reference kind {kind!r}")
            return PlatformCredentials.model_validate_json(raw if isinstance(raw, (str, bytes)) else str(raw))
        except (GetParameterError, TransformParameterError, ValidationError, ValueError):
            # The channel names credentials that are missing or not credentials: nothing can be
            # verified or sent with them; the merchant must fix the channel. Never log the value.
            raise CredentialsUnavailable("the channel's credentials cannot be read", {"credentials_ref": ref}) from None
