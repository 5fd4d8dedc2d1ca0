"""/api/v1/: every app registers its viewsets on this one router."""

from rest_framework.routers import DefaultRouter

from alerts.api import AlertViewSet
from connectors.api import ActivityViewSet, BucketViewSet, ConnectorViewSet
from defender.ipintel.api import IpRangeViewSet
from governance.api import GovernanceRunViewSet
from policies.api import PolicyViewSet

router = DefaultRouter()
router.register("connectors", ConnectorViewSet, basename="connector")
router.register("activities", ActivityViewSet, basename="activity")
router.register("buckets", BucketViewSet, basename="bucket")
router.register("ipranges", IpRangeViewSet, basename="iprange")
router.register("policies", PolicyViewSet, basename="policy")
router.register("alerts", AlertViewSet, basename="alert")
router.register("governance", GovernanceRunViewSet, basename="governance-run")

urlpatterns = router.urls
