"""What the stack's worker server imports once, before it forks the functions' execution
environments (see `lambda_runtime.worker_context`): the libraries the functions use, so that a new
environment imports only LiveStock's own modules. Those are not here: they read the function's
environment when imported (Powertools' Logger, for one), as on a Lambda cold start. Nor is the X-Ray
SDK, which reads its settings from the environment when imported.
"""
# ruff: noqa: F401 - imported for their side effect: loaded once, in the server that forks

import boto3
import boto3.dynamodb.conditions
import botocore.client
import botocore.session
import pydantic
import pydantic_settings
import urllib3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi import params
from aws_lambda_powertools.utilities import batch, parser

from livestock_local.lambda_runtime import name_process

name_process("ls-forkserver")
