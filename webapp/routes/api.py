"""The JSON API under /api/v1, for scripts and the in-workspace `task` command."""

from fastapi import APIRouter

from baselines.users import UserPublic
from webapp.deps import ApiUser

router = APIRouter(prefix="/api/v1", tags=["api"])


@router.get("/me", response_model=UserPublic)
def me(user: ApiUser) -> UserPublic:
    """Who the bearer token belongs to."""
    return UserPublic.model_validate(user, from_attributes=True)
