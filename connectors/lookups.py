"""`ip_address__in_network="10.0.0.0/8"`: PostgreSQL's inet containment, with a prefix-match
approximation on SQLite (exact for octet-aligned IPv4 networks, the common case)."""

import ipaddress

from django.db.models import GenericIPAddressField, Lookup


@GenericIPAddressField.register_lookup
class InNetwork(Lookup):
    lookup_name = "in_network"

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <<= {rhs}::inet", [*lhs_params, *rhs_params]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        network = ipaddress.ip_network(self.rhs, strict=False)
        if network.version == 4:
            octets = network.prefixlen // 8
            prefix = ".".join(str(network.network_address).split(".")[:octets])
            pattern = f"{prefix}.%" if octets else "%"
        else:
            pattern = network.network_address.exploded[: network.prefixlen // 4] + "%"
        return f"{lhs} LIKE %s", [*lhs_params, pattern]
