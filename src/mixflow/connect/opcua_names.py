"""Names of the OPC UA bridge that code outside it needs without loading asyncua (about a second):
the device kind of a bridged machine and the environment variable of its OPC UA password."""

KIND = "opcua"
PASSWORD_ENV = "MIXFLOW_OPCUA_PASSWORD"  # the OPC UA password of `--user` on the command line
