"""A task family for Baseliner's own tests whose ``install()`` always fails, as one whose
downloads are unreachable would: preparing a host must say so, with the reason."""


class TaskFamily:
    standard_version = "0.5.0"

    @staticmethod
    def get_tasks() -> dict[str, dict]:
        return {"main": {}}

    @staticmethod
    def get_instructions(t: dict) -> str:
        return "Nothing to do: this family never installs."

    @staticmethod
    def install() -> None:
        raise RuntimeError("the weights server is unreachable")

    @staticmethod
    def intermediate_score(t: dict) -> dict:
        return {"score": 0.0}
