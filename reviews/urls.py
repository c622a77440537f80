from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("services/<slug:slug>/launch/", views.service_launch, name="service-launch"),
    path("launches/", views.review_list, name="review-list"),
    path("launches/<int:pk>/", views.review_detail, name="review-detail"),
    path(
        "launches/<int:pk>/<str:action>/",
        views.review_decide,
        name="review-decide",
    ),
    path(
        "services/<slug:slug>/items/<str:item_key>/exemption/",
        views.item_exemption_request,
        name="item-exemption",
    ),
    path("exemptions/", views.exemption_list, name="exemption-list"),
    path("exemptions/<int:pk>/", views.exemption_detail, name="exemption-detail"),
    path("exemptions/<int:pk>/<str:action>/", views.exemption_decide, name="exemption-decide"),
]
