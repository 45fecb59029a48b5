"""The local stack: LiveStock's handlers on one machine, on DynamoDB Local, with no AWS account."""
