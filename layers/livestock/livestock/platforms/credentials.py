"""A channel's platform credentials, read from Secrets Manager or SSM (SecureString) with
Powertools parameters, cached per function instance. The reference is all the table keeps; the
secret itself never reaches the table, an answer or a log line (PlatformCredentials hides its repr)."""

from dataclasses import dataclass

from aws_lambda_powertools.utilities import parameters

from livestock.platforms.adapters import PlatformCredentials


@dataclass(frozen=True)
class ParameterCredentials:
    max_age_s: int = 300

    def get(self, ref: str) -> PlatformCredentials:
        kind, _, name = ref.partition(":")
        if kind == "secretsmanager":
            raw = parameters.get_secret(name, max_age=self.max_age_s)
        elif kind == "ssm":
            raw = parameters.get_parameter(name, decrypt=True, max_age=self.max_age_s)
        else:
            raise ValueError(f"unknown credentials reference kind {kind!r}")
        return PlatformCredentials.model_validate_json(raw if isinstance(raw, (str, bytes)) else str(raw))
