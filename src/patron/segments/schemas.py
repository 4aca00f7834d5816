"""Request and response bodies of the segments API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from patron.core.api import Schema

DEFINITION_HELP = (
    'The conditions as data: a group {"all": [...]} or {"any": [...]} of conditions '
    '{"field": ..., "op": ..., "value": ...} and nested groups (see docs/analytics.md, Segments). '
    "Checked strictly: 422 naming the path at fault, e.g. `definition.all[1].field`."
)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Definition = Annotated[dict[str, Any], Field(description=DEFINITION_HELP)]


class SegmentCreate(Schema):
    name: Text = Field(
        min_length=1, max_length=120, description="Unique name of the segment in the organisation."
    )
    description: Text = Field("", max_length=2000, description="What the segment is for.")
    definition: Definition
    status: Literal["active", "paused"] = Field(
        "active",
        description="active segments are refreshed by the scheduler; paused ones keep their members.",
    )


class SegmentUpdate(Schema):
    name: Text | None = Field(None, min_length=1, max_length=120, description="New name.")
    description: Text | None = Field(None, max_length=2000, description="New description.")
    definition: dict[str, Any] | None = Field(None, description=DEFINITION_HELP)
    status: Literal["active", "paused"] | None = Field(None, description="active or paused.")


class DefinitionBody(Schema):
    definition: Definition
    limit: int = Field(20, ge=1, le=200, description="Members to show in a preview (first by customer id).")


class SegmentOut(Schema):
    id: int
    name: str = Field(description="Name, unique in the organisation.")
    kind: Literal["rule", "ml"] = Field(
        description="rule (conditions, evaluated live) or ml (a cluster of a run)."
    )
    description: str = Field(description="What the segment is for (for ML segments: the archetype).")
    definition: dict[str, Any] = Field(
        description="Rule segments: the conditions; ML segments: run and cluster."
    )
    status: Literal["active", "paused", "retired"] = Field(
        description="active (refreshed), paused (kept as is) or retired (an ML segment of an earlier run)."
    )
    run_id: int | None = Field(description="The ML run an ML segment came from.")
    size: int = Field(description="Members at the last refresh.")
    refreshed_at: datetime | None = Field(description="When the members were last written (UTC).")
    created_by_id: int | None = Field(description="The user who created it.")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last changed (UTC).")


class CountOut(Schema):
    count: int = Field(description="Customers passing the definition now.")


class PreviewMember(Schema):
    customer_id: int = Field(description="The customer's id.")
    name: str = Field(description="The customer's name.")


class PreviewOut(Schema):
    count: int = Field(description="Customers passing the definition now.")
    members: list[PreviewMember] = Field(description="The first members by customer id.")


class RefreshOut(Schema):
    size: int = Field(description="Members after the refresh.")
    joined: int = Field(description="Customers who joined.")
    left: int = Field(description="Customers who left.")
    refreshed_at: datetime = Field(description="When (UTC).")


class MembershipOut(Schema):
    customer_id: int = Field(description="The customer's id.")
    joined_at: datetime = Field(description="When the customer joined (UTC).")
    left_at: datetime | None = Field(description="When the customer left (UTC); null while still a member.")


class MembersPage(Schema):
    items: list[MembershipOut] = Field(description="One page of memberships.")
    total: int = Field(description="Number of rows over all pages.")
    limit: int = Field(description="Largest number of rows in one page.")
    offset: int = Field(description="Number of rows skipped before this page.")


class SizeOut(Schema):
    at: datetime = Field(description="When the size was taken (UTC).")
    size: int = Field(description="Members then.")
    joined: int = Field(description="Customers who joined at that refresh.")
    left: int = Field(description="Customers who left at that refresh.")


class FieldOut(Schema):
    field: str = Field(description="Field name as written in a condition.")
    type: str = Field(
        description="Value type: choice, text, number, date, tag, owner, consent, device_type, ..."
    )
    ops: list[str] = Field(description="Operators the field takes.")
    choices: list[str] = Field(description="Allowed values, where the field has a fixed set.")


class MlRunCreate(Schema):
    method: Literal["kmeans", "minibatch", "gmm"] = Field(
        "kmeans", description="k-means, mini-batch k-means (millions of customers) or a Gaussian mixture."
    )
    k_min: int = Field(2, ge=2, le=20, description="Smallest number of clusters tried.")
    k_max: int = Field(8, ge=2, le=20, description="Largest number of clusters tried.")


class KScore(Schema):
    k: int = Field(description="Number of clusters tried.")
    silhouette: float | None = Field(description="Silhouette coefficient (higher is better).")
    bic: float | None = Field(
        description="Bayesian information criterion (Gaussian mixture; lower is better)."
    )
    inertia: float | None = Field(description="Within-cluster sum of squares (k-means).")


class KeyDifference(Schema):
    feature: str = Field(description="The feature.")
    z: float = Field(description="The cluster's z-scored mean of it.")
    direction: Literal["high", "low"] = Field(description="Above (high) or below (low) the population mean.")


class ClusterOut(Schema):
    cluster: int = Field(description="Cluster number in the run.")
    name: str = Field(description="Name derived from the profile, e.g. 'high frequency, low recency_days'.")
    size: int = Field(description="Customers in the cluster.")
    share: float = Field(description="Fraction of all clustered customers.")
    z: dict[str, float] = Field(
        description="Feature -> z-scored centroid (standard deviations from the mean)."
    )
    centroid: dict[str, float | None] = Field(
        description="Feature -> cluster mean in the feature's own unit."
    )
    key_differences: list[KeyDifference] = Field(description="The strongest features, strongest first.")
    archetype: str | None = Field(
        description="Archetype of study §2 (communication, ethical_behavioural, ...)."
    )
    title: str | None = Field(description="The archetype's title.")
    playbook: list[str] = Field(description="What to do with this cluster.")
    segment_id: int | None = Field(None, description="The segment holding the cluster's customers.")


class MlRunOut(Schema):
    id: int
    method: str = Field(description="Clustering method.")
    criterion: Literal["silhouette", "bic"] = Field(description="How k was chosen.")
    k_min: int = Field(description="Smallest k tried.")
    k_max: int = Field(description="Largest k tried.")
    k: int = Field(description="The k chosen.")
    scores: list[KScore] = Field(description="Scores of every k tried.")
    stability_ari: float | None = Field(description="Mean adjusted Rand index of refits with other seeds.")
    stability_min_ari: float | None = Field(description="Smallest adjusted Rand index of those refits.")
    n_customers: int = Field(description="Customers clustered.")
    features: list[str] = Field(description="Features clustered on.")
    clusters: list[ClusterOut] = Field(description="Profile, archetype and playbook of each cluster.")
    started_at: datetime = Field(description="When the run started (UTC).")
    finished_at: datetime | None = Field(description="When it finished (UTC).")


class RankingCriterion(Schema):
    name: str = Field(description="'share' or a feature the run clustered on (the cluster mean of it).")
    type: Literal["benefit", "cost"] = Field(description="benefit: higher is better; cost: lower is better.")
    weight: float = Field(description="Normalised weight (the weights sum to 1).")
    entropy: float | None = Field(
        description="Shannon entropy of the criterion over the clusters (entropy weighting)."
    )
    divergence: float | None = Field(
        description="1 - entropy: the information the criterion carries (entropy weighting)."
    )


class AvailableCriterion(Schema):
    name: str = Field(description="A criterion the clusters can be ranked on.")
    default_type: Literal["benefit", "cost"] = Field(
        description="Its direction when given without ':benefit'/':cost'."
    )


class RankedCluster(Schema):
    cluster: int = Field(description="Cluster number in the run.")
    name: str = Field(description="The cluster's name.")
    segment_id: int | None = Field(description="The segment holding the cluster's customers.")
    size: int = Field(description="Customers in the cluster.")
    values: dict[str, float] = Field(description="Criterion -> the cluster's value (share, or feature mean).")
    S: float = Field(
        description="VIKOR group utility: weighted sum of the normalised distances to the best (lower is better)."
    )
    R: float = Field(
        description="VIKOR individual regret: the largest weighted distance to the best (lower is better)."
    )
    Q: float = Field(description="VIKOR index at v: v scaled S + (1 - v) scaled R (lower is better).")
    rank_S: int = Field(description="Rank by S (1 = best).")
    rank_R: int = Field(description="Rank by R (1 = best).")
    rank_Q: int = Field(description="Rank by Q (1 = best).")
    closeness: float = Field(description="TOPSIS relative closeness to the ideal cluster (higher is better).")
    topsis_rank: int = Field(description="Rank by TOPSIS closeness (1 = best).")


class VikorConditions(Schema):
    v: float = Field(description="Weight of group utility S in Q (1 - v goes to regret R).")
    ranking: list[int] = Field(description="Clusters by Q at this v, best first.")
    best: int = Field(description="The cluster with the lowest Q.")
    second: int = Field(description="The cluster with the second lowest Q.")
    advantage: float = Field(description="Q(second) - Q(best).")
    acceptable_advantage: bool = Field(description="Condition C1: advantage >= DQ.")
    acceptable_stability: bool = Field(description="Condition C2: the best by Q is also best by S or by R.")
    compromise: list[int] = Field(
        description="The compromise set: the best alone when C1 and C2 hold; best and second when only C2 "
        "fails; every cluster whose Q is within DQ of the best when C1 fails."
    )


class RankingOut(VikorConditions):
    run_id: int = Field(description="The segmentation run.")
    weighting: Literal["entropy", "equal"] = Field(description="How the criteria were weighted.")
    criteria: list[RankingCriterion] = Field(description="The criteria used, with their weights.")
    available_criteria: list[AvailableCriterion] = Field(
        description="Every criterion this run can be ranked on."
    )
    clusters: list[RankedCluster] = Field(description="The clusters, best by Q first.")
    dq: float = Field(description="Acceptable-advantage threshold DQ = 1 / (clusters - 1).")
    best_by_S: bool = Field(description="Whether the best by Q is also best by S.")
    best_by_R: bool = Field(description="Whether the best by Q is also best by R.")
    stability: list[VikorConditions] = Field(
        description="Ranking, conditions and compromise set for v = 0.1 ... 0.9."
    )
    topsis_ranking: list[int] = Field(description="Clusters by TOPSIS closeness, best first.")
