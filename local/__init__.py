"""The ground floor of the local stand-ins (emulator, registry, image, runner, `make demo`): what they all share."""
