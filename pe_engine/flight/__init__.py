"""Arrow Flight (gRPC) queries: the service (service.py) and its listeners (lifecycle.py)."""
from .lifecycle import FlightBindError, FlightListeners, announce, flight_address, start_flight, stop_flight
from .service import PeFlightServer

__all__ = ["FlightBindError", "FlightListeners", "announce", "PeFlightServer", "flight_address", "start_flight", "stop_flight"]
