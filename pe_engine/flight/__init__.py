"""Arrow Flight (gRPC) queries: the service (service.py) and its listener (lifecycle.py)."""
from .lifecycle import FlightBindError, flight_address, start_flight, stop_flight
from .service import PeFlightServer

__all__ = ["FlightBindError", "PeFlightServer", "flight_address", "start_flight", "stop_flight"]
